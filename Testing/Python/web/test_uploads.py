"""Uploads of the browser app, without a browser: what the page sends is confined to the app's data
folder, size-limited, and read as a BraTS case with messages that name the uploaded files."""

from __future__ import annotations

import pytest

from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.web.uploads import (
    DataFolder,
    UploadError,
    UploadLimits,
    read_uploaded_case,
    safe_file_name,
    store_upload,
)

CONTRASTS = ("t1", "t1c", "t2", "flair")


def upload(name: str, content: bytes) -> dict:
    return {"name": name, "size": len(content), "content": content}


def test_folder_parts_of_names_are_dropped_and_files_stay_in_the_data_folder(tmp_path):
    data = DataFolder(tmp_path / "data")
    folder = store_upload([upload("../../escape-t1n.nii.gz", b"x"), upload("C:\\x\\a-t2w.nii", b"y")], data,
                          UploadLimits())
    assert sorted(p.name for p in folder.iterdir()) == ["a-t2w.nii", "escape-t1n.nii.gz"]
    assert data.root in folder.parents
    assert not (tmp_path / "escape-t1n.nii.gz").exists()
    with pytest.raises(UploadError, match="outside the app's data folder"):
        data.inside("../elsewhere")


@pytest.mark.parametrize("name, message", [
    ("notes.txt", "not an image file"),
    ("..", "may hold only"),
    ("brain t1.nii.gz", "may hold only"),
    (".hidden.nii", "may hold only"),
])
def test_bad_names_are_refused(name, message):
    with pytest.raises(UploadError, match=message):
        safe_file_name(name)


def test_size_and_count_limits_hold_for_announced_and_received_bytes(tmp_path):
    data = DataFolder(tmp_path)
    limits = UploadLimits(max_file_mb=0.001, max_files=2)  # 1000 bytes
    with pytest.raises(UploadError, match="larger than the 0.001 MB limit"):
        store_upload([upload("a-t1n.nii.gz", b"0" * 1001)], data, limits)
    lying = {"name": "a-t1n.nii.gz", "size": 10, "content": [b"0" * 600, b"0" * 600]}  # chunks
    with pytest.raises(UploadError, match="larger than"):
        store_upload([lying], data, limits)
    with pytest.raises(UploadError, match="at most 2"):
        store_upload([upload(f"a-{i}.nii", b"0") for i in range(3)], data, limits)
    assert not any((tmp_path / "uploads").iterdir()), "refused uploads leave nothing behind"


def test_an_uploaded_brats_case_is_read_with_its_own_id(healthy_case, tmp_path):
    source = write_brats_case(healthy_case, tmp_path / "source" / "Case-007")
    files = [upload(path.name, path.read_bytes()) for path in sorted(source.iterdir())]
    folder = store_upload(files, DataFolder(tmp_path / "data"), UploadLimits())
    case = read_uploaded_case(folder, CONTRASTS)
    assert case.case_id == healthy_case.case_id  # from the file names, not the folder
    assert case.contrasts == list(CONTRASTS)


def test_a_corrupt_upload_is_named_without_server_paths(tmp_path):
    files = [upload(f"Broken-{suffix}.nii.gz", b"\x1f\x8b not gzip") for suffix in ("t1n", "t1c", "t2w", "t2f")]
    folder = store_upload(files, DataFolder(tmp_path / "data"), UploadLimits())
    with pytest.raises(UploadError) as error:
        read_uploaded_case(folder, CONTRASTS)
    assert str(error.value).startswith("Broken-t1n.nii.gz: cannot read image")
    assert str(tmp_path) not in str(error.value)
