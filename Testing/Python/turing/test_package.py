"""Study packages: blinded layout, answer key kept apart, reproducible draws, safe manifests,
clear errors, and the command line from create to analyze."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pytest
from helpers.turing import make_dataset

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.core.image_io import read_image
from SynthPathologyLib.turing import load_key, open_package
from SynthPathologyLib.turing.create import FIXED_MTIME, CreateOptions, choose_counts, create_package
from SynthPathologyLib.turing.errors import AnswerKeyError, StudyPackageError, UnsafePathError
from SynthPathologyLib.turing.study_package import MANIFEST_NAME

SHAPE = (16, 16, 16)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("datasets")
    return make_dataset(root / "real", 4, "real", seed=1), make_dataset(root / "synthetic", 4, "synthetic", seed=2)


@pytest.fixture(scope="module")
def built(datasets, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("built")
    result = create_package(*datasets, out / "package", out / "key.json",
                            CreateOptions(seed=11, readers=("ana", "ben")))
    return result.package, result.key


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_package_holds_anonymous_cases_in_identical_files(built, datasets):
    package, key = built
    manifest = json.loads((package / MANIFEST_NAME).read_text())
    ids = [case["id"] for case in manifest["cases"]]
    assert ids == sorted(ids) and len(ids) == 8
    assert all(len(i) == 8 and int(i, 16) >= 0 for i in ids)
    images = [p for p in all_files(package) if p.suffix == ".nii"]
    assert {p.relative_to(package).as_posix() for p in all_files(package)} == {MANIFEST_NAME} | {
        f"cases/{i}/{c}.nii" for i in ids for c in ("t1", "t1c", "t2", "flair")}
    # Uncompressed int16 on one grid: the size is header + voxels, whatever the content.
    assert {p.stat().st_size for p in images} == {352 + int(np.prod(SHAPE)) * 2}
    assert len({p.read_bytes()[:352] for p in images}) == 1
    assert {p.stat().st_mtime for p in [package, *all_files(package), *package.rglob("*/")]} == {FIXED_MTIME}
    header = nibabel.load(images[0]).header
    assert header["descrip"].item() == b"" and header["qform_code"] == header["sform_code"] == 1
    for path in images:
        array = np.asanyarray(nibabel.load(path).dataobj)
        assert array.dtype == np.int16 and array.min() == 0 and array.max() == 1000
        assert read_image(path).GetSize() == SHAPE  # readable by the library as well
    # No source name, path or provenance anywhere a reader can look.
    visible = b"".join(p.read_bytes()[:352] for p in images) + (package / MANIFEST_NAME).read_bytes()
    for source in [*datasets[0].iterdir(), *datasets[1].iterdir()]:
        assert source.name.encode() not in visible
    assert b"real" not in (package / MANIFEST_NAME).read_bytes()
    assert not key.resolve().is_relative_to(package.resolve())


def test_key_holds_truth_and_sources_of_this_package(built, datasets):
    package, key_path = built
    key = load_key(key_path, open_package(package))
    assert sorted(key.truth.values()) == ["real"] * 4 + ["synthetic"] * 4
    for case, source in key.sources.items():
        root = datasets[0] if key.truth[case] == "real" else datasets[1]
        assert Path(source).parent == root.resolve()
    assert key.seed == 11


def test_same_seed_draws_the_same_study(datasets, tmp_path):
    def draw(name: str, seed: int) -> dict:
        result = create_package(*datasets, tmp_path / name, tmp_path / f"{name}.json",
                                CreateOptions(n_cases=2, seed=seed))
        key = load_key(result.key)
        return {case: (key.truth[case], key.sources[case]) for case in key.truth}

    first = draw("a", 5)
    assert draw("b", 5) == first
    assert sorted(t for t, _ in first.values()) == ["real", "synthetic"]
    assert draw("c", 6).keys() != first.keys()


@pytest.mark.parametrize(
    "n_cases, fraction, available, expected",
    [(None, 0.5, (4, 4), (4, 4)), (None, 0.5, (10, 3), (3, 3)), (5, 0.4, (9, 9), (3, 2)), (None, 0.25, (9, 1), (4, 1))],
)
def test_case_counts_follow_the_fraction(n_cases, fraction, available, expected):
    assert choose_counts(n_cases, fraction, *available) == expected


@pytest.mark.parametrize(
    "options, message",
    [
        (CreateOptions(n_cases=20), "need 10 real case(s), but the real dataset holds 4"),
        (CreateOptions(fraction_synthetic=1.0), "strictly between 0 and 1"),
        (CreateOptions(n_cases=1), "leaves no"),
        (CreateOptions(readers=("ana", "../x")), "reader id '../x' is not allowed"),
    ],
)
def test_create_refuses_impossible_requests(datasets, tmp_path, options, message):
    with pytest.raises(SynthPathologyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_package(*datasets, tmp_path / "package", tmp_path / "key.json", options)
    assert list(tmp_path.iterdir()) == []  # nothing half-made


def test_create_keeps_the_key_out_of_the_package_and_never_overwrites(datasets, tmp_path):
    with pytest.raises(AnswerKeyError, match="must not be inside the study package"):
        create_package(*datasets, tmp_path / "package", tmp_path / "package" / "key.json")
    (tmp_path / "key.json").write_text("{}")
    with pytest.raises(AnswerKeyError, match="already exists"):
        create_package(*datasets, tmp_path / "package", tmp_path / "key.json")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").touch()
    with pytest.raises(StudyPackageError, match="already exists"):
        create_package(*datasets, tmp_path / "full", tmp_path / "key2.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "key.json"]


@pytest.fixture
def editable(built, tmp_path) -> Path:
    """A copy of the built package whose manifest a test may edit."""
    return Path(shutil.copytree(built[0], tmp_path / "package"))


def edit_manifest(package: Path, change) -> None:
    path = package / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "bad_path, message",
    [
        ("../outside.nii", "goes up out of the package"),
        ("cases/../../outside.nii", "goes up out of the package"),
        ("/etc/passwd", "is an absolute path"),
        ("C:/Windows/win.ini", "is an absolute path"),
        ("cases\\..\\..\\outside.nii", "must use '/' separators"),
    ],
)
def test_manifest_paths_leading_outside_are_refused(editable, bad_path, message):
    (editable.parent / "outside.nii").write_bytes(b"secret")

    def point_outside(data):
        data["cases"][0]["files"]["t1"] = bad_path

    edit_manifest(editable, point_outside)
    with pytest.raises(UnsafePathError, match=message):
        open_package(editable)
    assert main(["turing", "status", str(editable)]) == 2


def test_symbolic_links_out_of_the_package_are_refused(editable):
    outside = editable.parent / "outside.nii"
    outside.write_bytes(b"secret")
    target = next((editable / "cases").iterdir()) / "t1.nii"
    target.unlink()
    os.symlink(outside, target)
    with pytest.raises(UnsafePathError, match="outside the package"):
        open_package(editable)


def _set(path: tuple, value):
    def change(data):
        node = data
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_set(("version",), 2), "version 2 is newer than this SynthPathology reads"),
        (_set(("format",), "other"), "not a SynthPathology study package"),
        (lambda d: d.pop("cases"), "missing field"),
        (_set(("provenance",), {"source": "real"}), "unknown field.*provenance"),
        (_set(("cases", 0, "source"), "real"), r"cases\[0\]: unknown field.*source"),
        (_set(("settings", "allow_back"), "yes"), "allow_back: expected true/false"),
        (_set(("settings", "time_limit_s"), -1), "time_limit_s: expected a positive number"),
        (lambda d: d["cases"].append(d["cases"][0]), "appears twice"),
        (lambda d: d["cases"][1]["files"].pop("t2"), r"cases\[1\]\.files: missing field.*t2"),
        (_set(("cases", 0, "id"), "a/b"), "does not match"),
        (_set(("cases", 0, "files", "t1"), "cases/missing.nii"), "missing from the package"),
    ],
)
def test_malformed_manifests_get_clear_errors(editable, change, message):
    edit_manifest(editable, change)
    with pytest.raises(StudyPackageError, match=message):
        open_package(editable)


def test_unreadable_manifest_and_missing_package(editable, tmp_path):
    with pytest.raises(StudyPackageError, match="no such study package"):
        open_package(tmp_path / "nowhere")
    (editable / MANIFEST_NAME).write_text('{"format": "synthpathology-turing-package", ')
    with pytest.raises(StudyPackageError, match="not valid JSON"):
        open_package(editable)
    (editable / MANIFEST_NAME).unlink()
    with pytest.raises(StudyPackageError, match="no manifest.json"):
        open_package(editable)


def test_command_line_from_create_to_analyze(datasets, tmp_path, capsys):
    package, key, results = tmp_path / "study", tmp_path / "secret" / "key.json", tmp_path / "results"
    assert main(["turing", "create", "--real", str(datasets[0]), "--synthetic", str(datasets[1]), "--out", str(package),
                 "--key", str(key), "--cases", "4", "--readers", "ana,ben", "--seed", "1"]) == 0
    assert "4 cases (2 real, 2 synthetic)" in capsys.readouterr().out
    assert main(["turing", "audit", str(package), "--key", str(key)]) == 0
    assert "blind" in capsys.readouterr().out
    cases = [c["id"] for c in json.loads((package / MANIFEST_NAME).read_text())["cases"]]
    for reader, label in (("ana", "real"), ("ben", "synthetic")):
        for case in cases:
            assert main(["turing", "answer", str(package), "--reader", reader, "--case", case, "--label", label,
                         "--confidence", "4", "--realism", "3", "--comment", "margins look odd"]) == 0
    assert main(["turing", "answer", str(package), "--reader", "cleo", "--case", cases[0], "--label", "real",
                 "--confidence", "4", "--realism", "3"]) == 2
    assert "not a reader of this study (ana, ben)" in capsys.readouterr().err
    assert main(["turing", "status", str(package)]) == 0
    out = capsys.readouterr().out
    assert "ana: 4/4 answered" in out and "ben: 4/4 answered" in out
    assert main(["turing", "audit", str(package)]) == 0  # journals do not break the blinding
    assert main(["turing", "analyze", str(package), "--key", str(key), "--out", str(results)]) == 0
    summary = json.loads((results / "summary.json").read_text())
    assert summary["pooled"]["n"] == 8 and summary["pooled"]["accuracy"] == 0.5
    assert set(summary["readers"]) == {"ana", "ben"}
    assert main(["turing", "analyze", str(package), "--key", str(key), "--out", str(package / "results")]) == 2
    assert "outside the study package" in capsys.readouterr().err


def test_synthetic_folders_without_provenance_are_refused_unless_allowed(datasets, tmp_path, capsys):
    """A demo's output holds its unmodified original beside the synthetic case: drawn as
    "synthetic", a real image would be scored as a fooled reader."""
    synthetic = Path(shutil.copytree(datasets[1], tmp_path / "synthetic"))
    original = Path(shutil.copytree(datasets[0] / "BraTS-GLI-00000-000", synthetic / "original"))
    args = ["turing", "create", "--real", str(datasets[0]), "--synthetic", str(synthetic), "--key"]
    assert main([*args, str(tmp_path / "key.json"), "--out", str(tmp_path / "study"), "--seed", "1"]) == 2
    assert f"have no provenance (provenance.json or phantom.json), e.g. {original}" in capsys.readouterr().err
    assert not (tmp_path / "study").exists()
    assert main([*args, str(tmp_path / "key2.json"), "--out", str(tmp_path / "study2"), "--seed", "1",
                 "--allow-unlabelled-synthetic"]) == 0


def test_synthetic_cases_sharing_a_patient_are_reported(datasets, tmp_path, capsys):
    synthetic = Path(shutil.copytree(datasets[1], tmp_path / "synthetic"))
    for index, folder in enumerate(sorted(synthetic.iterdir())):
        source = "BraTS-GLI-00042-000" if index < 2 else f"BraTS-GLI-0090{index}-000"
        (folder / "provenance.json").write_text(json.dumps({"source_case": source}))
    (sorted(synthetic.iterdir())[2] / "provenance.json").write_text(json.dumps({"source_case": "BraTS-GLI-00001-001"}))
    result = create_package(datasets[0], synthetic, tmp_path / "study", tmp_path / "key.json",
                            CreateOptions(n_cases=8, seed=5))
    warnings = " | ".join(result.warnings)
    names = sorted(p.name for p in synthetic.iterdir())
    assert f"2 synthetic cases come from patient BraTS-GLI-00042 ({names[0]}, {names[1]})" in warnings
    assert (f"synthetic case(s) {names[2]} come from patient BraTS-GLI-00001, whose real case is in the study"
            in warnings)
    assert len(result.warnings) == 2
