"""Image files: every supported format round-trips exactly; bad files get clear errors."""

from __future__ import annotations

import gzip
import locale
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.errors import ImageFileError
from SynthPathologyLib.core.image_io import lps_to_ras, ras_to_lps, read_image, same_grid, write_image


def oblique_image(shape_zyx=(12, 14, 10), dtype=np.int16, seed=0) -> sitk.Image:
    """A small image with anisotropic spacing, an offset origin and an oblique direction."""
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.integers(-500, 1500, shape_zyx).astype(dtype))
    image.SetSpacing((0.9, 1.1, 2.5))
    image.SetOrigin((-90.25, 120.5, -30.0))
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    image.SetDirection(rotation.flatten().tolist())
    return image


def write_dicom_series(image: sitk.Image, folder: Path, series_uid: str = "1.2.826.0.1.3680043.2.1125.1") -> None:
    """Write ``image`` as a DICOM series, one file per slice, with the tags that place each slice
    (restoring the C locale that GDCM changes, so that later tests see the process as it was)."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = locale.setlocale(locale.LC_ALL)
    try:
        _write_dicom_slices(image, folder, series_uid)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_dicom_slices(image: sitk.Image, folder: Path, series_uid: str) -> None:
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = image.GetDirection()
    orientation = "\\".join(str(v) for v in (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7]))
    for k in range(image.GetDepth()):
        slice_k = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        for tag, value in (
            ("0008|0060", "MR"),
            ("0020|000d", series_uid + ".0"),
            ("0020|000e", series_uid),
            ("0020|0037", orientation),
            ("0020|0032", "\\".join(map(str, position))),
            ("0020|0013", str(k + 1)),
            ("0008|0018", f"{series_uid}.{k + 1}"),
        ):
            slice_k.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid}-{k:03d}.dcm"))
        writer.Execute(slice_k)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_round_trip_keeps_voxels_and_oblique_geometry(tmp_path, suffix):
    image = oblique_image()
    path = write_image(image, tmp_path / f"image{suffix}")
    back = read_image(path)
    assert same_grid(back, image)
    np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    assert back.GetPixelID() == image.GetPixelID()


def test_dicom_series_folder_is_read_as_one_volume(tmp_path):
    image = sitk.GetImageFromArray(np.arange(6 * 8 * 10, dtype=np.int16).reshape(6, 8, 10))
    image.SetSpacing((0.8, 0.8, 3.0))
    image.SetOrigin((10.0, -20.0, 5.0))
    write_dicom_series(image, tmp_path / "series")
    encoding = locale.getpreferredencoding(False)
    back = read_image(tmp_path / "series")
    assert locale.getpreferredencoding(False) == encoding  # reading leaves the process locale as it was
    assert back.GetSize() == (10, 8, 6)
    np.testing.assert_allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_folder_with_two_dicom_series_is_refused(tmp_path):
    image = oblique_image((3, 4, 5))
    write_dicom_series(image, tmp_path / "mixed", "1.2.3.4")
    write_dicom_series(image, tmp_path / "mixed", "1.2.3.5")
    with pytest.raises(ImageFileError, match="2 DICOM series"):
        read_image(tmp_path / "mixed")


def test_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFileError, match="no DICOM series"):
        read_image(tmp_path / "empty")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ImageFileError, match="missing.nii.gz: no such file"):
        read_image(tmp_path / "missing.nii.gz")


def test_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "corrupt.nii.gz"
    path.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageFileError, match=r"corrupt\.nii\.gz: cannot read image"):
        read_image(path)


def test_truncated_nifti_is_refused(tmp_path):
    path = write_image(oblique_image((20, 20, 20)), tmp_path / "full.nii")
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(gzip.compress(path.read_bytes()[:2000]))
    with pytest.raises(ImageFileError, match="truncated.nii.gz: corrupt or truncated NIfTI"):
        read_image(truncated)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_truncated_raw_file_is_refused(tmp_path, suffix):
    path = tmp_path / f"truncated{suffix}"
    sitk.WriteImage(oblique_image((20, 20, 20)), str(path), False)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ImageFileError, match=f"truncated{suffix}: cannot read image"):
        read_image(path)


def test_2d_image_is_refused(tmp_path):
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(sitk.Image(10, 12, sitk.sitkFloat32), str(path))
    with pytest.raises(ImageFileError, match="expected a 3D image, got 2D"):
        read_image(path)


def test_4d_image_is_refused(tmp_path):
    path = tmp_path / "series4d.nii.gz"
    sitk.WriteImage(sitk.Image([4, 5, 6, 3], sitk.sitkFloat32), str(path))
    with pytest.raises(ImageFileError, match="expected a 3D image, got 4D"):
        read_image(path)


def test_vector_image_is_refused(tmp_path):
    path = tmp_path / "rgb.nrrd"
    sitk.WriteImage(sitk.Image([4, 5, 6], sitk.sitkVectorFloat32, 3), str(path))
    with pytest.raises(ImageFileError, match="one value per voxel"):
        read_image(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_voxels_are_refused(tmp_path, bad):
    array = np.ones((5, 6, 7), np.float32)
    array[2, 3, 4] = bad
    array[1, 1, 1] = bad
    path = tmp_path / "nan.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    with pytest.raises(ImageFileError, match="nan.nii.gz: 2 voxels are NaN or infinite"):
        read_image(path)


def test_zero_spacing_is_refused(tmp_path):
    path = tmp_path / "flat.mha"
    sitk.WriteImage(sitk.Image(5, 6, 7, sitk.sitkInt16), str(path), False)
    path.write_bytes(path.read_bytes().replace(b"ElementSpacing = 1 1 1", b"ElementSpacing = 0 1 1"))
    with pytest.raises(ImageFileError, match="flat.mha: spacing must be positive"):
        read_image(path)


def test_negative_spacing_in_a_header_becomes_a_flip_not_a_negative_spacing(tmp_path):
    # A negative NIfTI pixdim is a legal way to store a flipped axis: ITK folds it into the
    # direction, so the image is accepted with positive spacing.
    path = write_image(sitk.Image(5, 6, 7, sitk.sitkInt16), tmp_path / "flipped.nii")
    header = bytearray(path.read_bytes())
    header[80:84] = struct.pack("<f", -2.0)  # pixdim[1]
    path.write_bytes(bytes(header))
    image = read_image(path)
    assert min(image.GetSpacing()) > 0


def test_write_is_atomic_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out" / "t1.nii.gz"
    write_image(oblique_image(), target)
    first = target.stat().st_mtime_ns
    time.sleep(0.01)
    write_image(oblique_image(seed=1), target)
    assert target.stat().st_mtime_ns > first
    assert sorted(p.name for p in target.parent.iterdir()) == ["t1.nii.gz"]


def test_unsupported_suffix_is_refused(tmp_path):
    with pytest.raises(ImageFileError, match="unsupported image file type"):
        write_image(oblique_image(), tmp_path / "image.png")


def test_ras_lps_conversion_negates_x_and_y():
    assert ras_to_lps((10.0, -20.0, 30.0)) == (-10.0, 20.0, 30.0)
    assert lps_to_ras(ras_to_lps((1.5, 2.5, 3.5))) == (1.5, 2.5, 3.5)


FULL_DISK = """
import resource, signal, sys
import numpy as np, SimpleITK as sitk
from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.core.image_io import write_image
image = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=(40, 40, 40)).astype(np.float32))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    write_image(image, sys.argv[1])
except SynthPathologyError as exc:
    print(exc)
    sys.exit(2)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_a_short_write_is_a_one_line_error_and_leaves_no_file(tmp_path, suffix):
    """SimpleITK's NIfTI writer does not raise when the disk fills: the written file is checked."""
    target = tmp_path / f"t1{suffix}"
    run = subprocess.run([sys.executable, "-c", FULL_DISK, str(target)], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert run.stdout.count("\n") == 1 and "cannot write image" in run.stdout and str(target) in run.stdout
    assert list(tmp_path.iterdir()) == []
