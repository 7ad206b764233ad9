"""Uploads of the browser app, without a browser: what the page sends is confined to the app's data
folder, size-limited, single-file NIfTI only (checked from the header before anything is
decoded), and read as a BraTS case with messages that name the uploaded files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.web.uploads import (
    DataFolder,
    UploadError,
    UploadLimits,
    UploadReceiver,
    read_uploaded_case,
    safe_file_name,
    store_upload,
)

CONTRASTS = ("t1", "t1c", "t2", "flair")


def upload(name: str, content: bytes) -> dict:
    return {"name": name, "size": len(content), "content": content}


def nifti_bytes(tmp_path, shape=(4, 5, 6), suffix=".nii.gz") -> bytes:
    path = tmp_path / f"image{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros(shape, np.int16)), str(path))
    return path.read_bytes()


def test_folder_parts_of_names_are_dropped_and_files_stay_in_the_data_folder(tmp_path):
    data = DataFolder(tmp_path / "data")
    folder = store_upload([upload("../../escape-t1n.nii.gz", nifti_bytes(tmp_path)),
                           upload("C:\\x\\a-t2w.nii", nifti_bytes(tmp_path, suffix=".nii"))], data, UploadLimits())
    assert sorted(p.name for p in folder.iterdir()) == ["a-t2w.nii", "escape-t1n.nii.gz"]
    assert data.root in folder.parents
    assert not (tmp_path / "escape-t1n.nii.gz").exists()
    with pytest.raises(UploadError, match="outside the app's data folder"):
        data.inside("../elsewhere")


@pytest.mark.parametrize("name, message", [
    ("notes.txt", "not an image file"),
    ("case-t1n.mha", "not an image file"),
    ("case-t1n.nrrd", "not an image file"),
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
    case = read_uploaded_case(folder)
    assert case.case_id == healthy_case.case_id  # from the file names, not the folder
    assert case.contrasts == list(CONTRASTS)


def test_a_corrupt_upload_is_named_without_server_paths(tmp_path):
    truncated = nifti_bytes(tmp_path, shape=(20, 20, 20), suffix=".nii")[:600]  # a header, too few voxels
    files = [upload(f"Broken-{suffix}.nii", truncated) for suffix in ("t1n", "t1c", "t2w", "t2f")]
    folder = store_upload(files, DataFolder(tmp_path / "data"), UploadLimits())
    with pytest.raises(UploadError) as error:
        read_uploaded_case(folder)
    assert str(error.value).startswith("Broken-t1n.nii: ")  # named by its upload name
    assert str(tmp_path) not in str(error.value)
    with pytest.raises(UploadError, match="^Broken-t1n.nii.gz: not a readable gzip file$"):
        store_upload([upload("Broken-t1n.nii.gz", b"\x1f\x8b not gzip")], DataFolder(tmp_path / "data"),
                     UploadLimits())


def test_headers_that_name_a_detached_data_file_are_refused(tmp_path):
    """A MetaImage header in a .nii file, or a NIfTI header pair (magic "ni1"), would make ITK read
    the file they name: /etc/passwd came back through "Remove lesion" and "Download"."""
    data = DataFolder(tmp_path / "data")
    meta = b"ObjectType = Image\nNDims = 1\nDimSize = 100\nElementType = MET_UCHAR\nElementDataFile = /etc/passwd\n"
    with pytest.raises(UploadError, match="evil-t1n.nii: not a NIfTI image"):
        store_upload([upload("evil-t1n.nii", meta)], data, UploadLimits())
    pair = bytearray(nifti_bytes(tmp_path, suffix=".nii"))
    pair[344:348] = b"ni1\x00"
    with pytest.raises(UploadError, match="separate data file"):
        store_upload([upload("pair-t1n.nii", bytes(pair))], data, UploadLimits())
    assert not any((data.root / "uploads").iterdir())


def test_a_header_declaring_a_huge_image_is_refused_before_decoding(tmp_path):
    """A 1.5 MB .nii.gz declaring 1024 x 1024 x 768 voxels took the server to 6 GB: refused from
    its first bytes now."""
    header = bytearray(gzip.decompress(nifti_bytes(tmp_path, shape=(2, 2, 2)))[:352])
    dims = np.frombuffer(bytes(header[40:56]), "<i2").copy()
    dims[1:4] = (1024, 1024, 768)
    header[40:56] = dims.tobytes()
    bomb = gzip.compress(bytes(header) + bytes(8 * 2**20))  # 8 MB of zeros: a few kB compressed
    with pytest.raises(UploadError, match="declares a 1611 MB image, over the 512 MB limit"):
        store_upload([upload("bomb-t1n.nii.gz", bomb)], DataFolder(tmp_path / "data"), UploadLimits())


def test_upload_groups_are_counted_as_they_arrive(tmp_path):
    limits = UploadLimits(max_file_mb=0.01)
    receiver = UploadReceiver(limits)
    with pytest.raises(UploadError, match="without an announced upload"):
        receiver.add([upload("a-t1n.nii", b"0")])
    receiver.start([{"name": "a-t1n.nii", "size": 10}, {"name": "a-t2w.nii", "size": 10}])
    receiver.add([upload("a-t1n.nii", b"0" * 10)])
    with pytest.raises(UploadError, match="a-t1n.nii: not among the announced files, or sent twice"):
        receiver.add([upload("a-t1n.nii", b"0" * 10)])
    assert not receiver.active, "a refused upload drops what it held"
    receiver.start([{"name": "a-t1n.nii", "size": 10}])
    with pytest.raises(UploadError, match="larger than the 0.01 MB limit"):
        receiver.add([upload("a-t1n.nii", b"0" * 20_000)])  # more than announced
    receiver.start([{"name": "a-t1n.nii", "size": 10}])
    receiver.add([upload("a-t1n.nii", b"0" * 10)])
    assert [f["name"] for f in receiver.finish()] == ["a-t1n.nii"] and not receiver.active
