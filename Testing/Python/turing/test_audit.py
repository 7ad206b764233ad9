"""The blinding audit: silent on a correctly built package, loud on every leak a careless package has."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pytest
from helpers.turing import make_dataset, make_package

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.turing import audit_package, load_key, open_package
from SynthPathologyLib.turing.create import FIXED_MTIME, CreateOptions, create_package
from SynthPathologyLib.turing.study_package import MANIFEST_NAME

DESCRIP_OFFSET = 148  # NIfTI-1 header: 80-byte description


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    return make_package(tmp_path_factory.mktemp("audit"), 3, 3)


@pytest.fixture
def package(built, tmp_path) -> Path:
    return Path(shutil.copytree(built[0], tmp_path / "package"))


def case_ids(package: Path, truth: str | None = None, key: Path | None = None) -> list[str]:
    ids = [c["id"] for c in json.loads((package / MANIFEST_NAME).read_text())["cases"]]
    if truth is None:
        return ids
    answer = load_key(key).truth
    return [c for c in ids if answer[c] == truth]


def rewrite(path: Path, data: bytes) -> None:
    """Replace a file's bytes but keep its fixed time, so each test shows one leak."""
    path.write_bytes(data)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def set_description(path: Path, text: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[DESCRIP_OFFSET:DESCRIP_OFFSET + 80] = text.ljust(80, b"\0")
    rewrite(path, bytes(data))


def rename_file(package: Path, case: str) -> None:
    (package / "cases" / case / "t1.nii").rename(package / "cases" / case / "t1_BraTS.nii")
    manifest = json.loads((package / MANIFEST_NAME).read_text())
    next(c for c in manifest["cases"] if c["id"] == case)["files"]["t1"] = f"cases/{case}/t1_BraTS.nii"
    (package / MANIFEST_NAME).write_text(json.dumps(manifest))


def compress(path: Path) -> None:
    rewrite(path, gzip.compress(path.read_bytes()))


def as_float32(path: Path) -> None:
    image = nibabel.load(path)
    data = np.asanyarray(image.dataobj).astype(np.float32)
    header = image.header.copy()
    header.set_data_dtype(np.float32)
    nibabel.save(nibabel.Nifti1Image(data, image.affine, header), path)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def big_endian(path: Path) -> None:
    """The same values and file size, stored big-endian."""
    image = nibabel.load(path, mmap=False)  # the file is rewritten in place: no memory map of it
    header = image.header.as_byteswapped(">")
    nibabel.save(nibabel.Nifti1Image(np.array(image.dataobj), image.affine, header), path)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def hard_link(path: Path) -> None:
    os.link(path, path.parents[3] / f"linked-{path.parent.name}")  # outside the package


def make_sparse(path: Path) -> None:
    """The same bytes, with the blocks of zeros left unallocated (holes)."""
    data = path.read_bytes()
    with open(path, "r+b") as stream:
        stream.truncate(0)
        for start in range(0, len(data), 4096):
            block = data[start:start + 4096]
            stream.seek(start)
            if any(block):
                stream.write(block)
        stream.truncate(len(data))
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def reverse_case_order(package: Path) -> None:
    manifest = json.loads((package / MANIFEST_NAME).read_text())
    manifest["cases"].reverse()
    (package / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_audit_passes_on_a_built_package(built, capsys):
    package, key = built
    for key_path in (None, key):
        report = audit_package(package, key_path)
        assert report.ok, report.leaks
        assert report.n_cases == 6 and report.n_properties > 100
    assert main(["turing", "audit", str(package), "--key", str(key)]) == 0
    assert "blind" in capsys.readouterr().out


@pytest.mark.parametrize(
    "tamper, leaking",
    [
        (lambda p, c: rename_file(p, c), ["t1: file name", "folder: entries"]),
        (lambda p, c: set_description(p / "cases" / c / "flair.nii", b"pix2pix generator v2"),
         ["flair: header descrip"]),
        (lambda p, c: compress(p / "cases" / c / "t2.nii"), ["t2: file size", "t2: compression"]),
        (lambda p, c: rewrite(p / "cases" / c / "t1c.nii", (p / "cases" / c / "t1c.nii").read_bytes() + b"\0" * 16),
         ["t1c: file size"]),
        (lambda p, c: as_float32(p / "cases" / c / "t1.nii"),
         ["t1: header datatype", "t1: header bitpix", "t1: file size"]),
        (lambda p, c: os.utime(p / "cases" / c / "t1.nii"), ["t1: modification time"]),
        (lambda p, c: (p / "cases" / c / "provenance.json").write_text("{}"),
         ["provenance.json", "folder: entries", "folder: modification time"]),
        (lambda p, c: (p / "readers" / "notes.txt").write_text("case 1 is synthetic"), ["readers/notes.txt"]),
        (lambda p, c: (p / "key.json").write_text("{}"), ["key.json"]),
        (lambda p, c: reverse_case_order(p), ["manifest.json"]),
        (lambda p, c: big_endian(p / "cases" / c / "t2.nii"), ["t2: header byte order"]),
        (lambda p, c: hard_link(p / "cases" / c / "t2.nii"), ["t2: link count"]),
        (lambda p, c: os.chown(p / "cases" / c / "flair.nii", 4321, -1), ["flair: owner"]),
        (lambda p, c: os.setxattr(p / "cases" / c / "t1.nii", "user.source", b"BraTS-GLI-00001-000"),
         ["t1: extended attributes"]),
        (lambda p, c: os.setxattr(p / "cases" / c, "user.note", b"synthetic"), ["folder: extended attributes"]),
    ],
    ids=["name", "header", "compressed", "size", "dtype", "mtime", "extra-file", "readers-file", "key-copy", "order",
         "big-endian", "hard-link", "owner", "xattr", "folder-xattr"],
)
def test_audit_fails_on_a_leaky_package(package, tamper, leaking, capsys):
    tamper(package, case_ids(package)[1])
    report = audit_package(package)
    assert not report.ok
    found = " | ".join(str(leak) for leak in report.leaks)
    for what in leaking:
        assert what in found
    assert main(["turing", "audit", str(package)]) == 1
    assert "LEAK" in capsys.readouterr().out


def test_with_the_key_a_leak_is_related_to_the_truth(package, built):
    key = built[1]
    for case in case_ids(package, "synthetic", key):  # a careless package: synthetic cases compressed
        compress(package / "cases" / case / "t1.nii")
    leaks = {leak.what: leak.detail for leak in audit_package(package, key).leaks}
    assert leaks["t1: file size"].startswith("tells real from synthetic perfectly")
    assert "differs between cases" in audit_package(package).leaks[0].detail


def test_with_the_key_source_names_are_found_anywhere_visible(package, built):
    key = load_key(built[1])
    source = Path(next(iter(key.sources.values()))).name
    for path in (package / "cases").rglob("*.nii"):  # the same text in every header: no difference to spot
        set_description(path, source.encode())
    assert audit_package(package).ok
    leaks = audit_package(package, built[1]).leaks
    assert leaks and all(f"mentions source case {source!r}" in leak.detail for leak in leaks)


def test_audit_refuses_a_key_of_another_package(package, built, tmp_path):
    other = json.loads(built[1].read_text())
    other["package_id"] = "f" * 32
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["turing", "audit", str(package), "--key", str(tmp_path / "other.json")]) == 2
    assert open_package(package).manifest.package_id != other["package_id"]


def test_a_sparse_file_is_seen_and_the_package_is_written_dense(tmp_path):
    """Mostly empty images (a small brain in a large grid) have whole blocks of zeros: a file that
    leaves them unallocated shows fewer allocated blocks."""
    real = make_dataset(tmp_path / "real", 2, "real", seed=1, shape=(12, 48, 48))
    synthetic = make_dataset(tmp_path / "synthetic", 2, "synthetic", seed=2, shape=(12, 48, 48))
    package = create_package(real, synthetic, tmp_path / "package", tmp_path / "key.json",
                             CreateOptions(seed=3)).package
    assert audit_package(package).ok
    make_sparse(package / "cases" / case_ids(package)[0] / "t1.nii")
    assert "t1: allocated blocks" in " | ".join(str(leak) for leak in audit_package(package).leaks)


def test_the_package_is_written_with_uniform_file_properties(tmp_path):
    """In a setgid folder of another group, new files would take that group: the package does not."""
    real = make_dataset(tmp_path / "real", 2, "real", seed=1)
    synthetic = make_dataset(tmp_path / "synthetic", 2, "synthetic", seed=2)
    (tmp_path / "out").mkdir()
    os.chown(tmp_path / "out", -1, 4321)
    os.chmod(tmp_path / "out", 0o2775)  # setgid: new files there get group 4321
    result = create_package(real, synthetic, tmp_path / "out" / "package", tmp_path / "key.json", CreateOptions(seed=3))
    report = audit_package(result.package)
    assert report.ok, report.leaks
    stat = os.stat(result.package / "cases" / case_ids(result.package)[0] / "t1.nii")
    assert (stat.st_uid, stat.st_gid, stat.st_nlink) == (os.getuid(), os.getgid(), 1)
