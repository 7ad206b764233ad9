"""Reading, checking and writing 3D images with SimpleITK.

Supported: NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``), MetaImage (``.mha``,
``.mhd``) files, and DICOM series (a folder holding one series). Images keep SimpleITK's
physical frame: origin and spacing in mm, directions in LPS.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import GridMismatchError, ImageFileError

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")

# Grids closer than this (mm for origin, relative for spacing, absolute for direction cosines)
# are the same grid: NIfTI stores float32 geometry, so exact equality is too strict.
GRID_TOLERANCE = 1e-4


def image_suffix(path: str | os.PathLike) -> str | None:
    """The recognised image suffix of ``path`` (``.nii.gz`` counts as one), or None."""
    name = Path(path).name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), None)


def read_image(path: str | os.PathLike) -> sitk.Image:
    """Read one 3D scalar image file, or the single DICOM series in a folder, and check it.

    Raises :class:`ImageFileError` naming ``path`` when the file cannot be read or the image
    is not a valid 3D scalar volume (see :func:`check_image`).
    """
    path = Path(path)
    if not path.exists():
        raise ImageFileError(f"{path}: no such file or folder")
    try:
        image = _read_dicom_series(path) if path.is_dir() else sitk.ReadImage(str(path))
    except RuntimeError as exc:
        if "spacing is not supported" in str(exc):
            # ITK refuses zero/negative spacing while reading; say so in the user's terms.
            raise ImageFileError(f"{path}: spacing must be positive ({_first_line(exc)})") from None
        raise ImageFileError(f"{path}: cannot read image ({_first_line(exc)})") from None
    if image_suffix(path) in (".nii", ".nii.gz"):
        _check_nifti_payload(path)
    check_image(image, path)
    return image


def _check_nifti_payload(path: Path) -> None:
    """Refuse truncated NIfTI files and NaN/Inf voxels, which ITK's reader hides.

    ITK zero-fills a truncated NIfTI and reads NaN and Inf as 0; nibabel reads the stored bytes
    as they are, so it checks the payload.
    """
    import nibabel

    try:
        data = np.asanyarray(nibabel.load(path).dataobj)
    except Exception as exc:  # nibabel raises many types for damaged files
        raise ImageFileError(f"{path}: corrupt or truncated NIfTI file ({_first_line(exc)})") from None
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise ImageFileError(f"{path}: {np.count_nonzero(~np.isfinite(data))} voxels are NaN or infinite")


def _read_dicom_series(folder: Path) -> sitk.Image:
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise ImageFileError(f"{folder}: folder holds no DICOM series")
    if len(series) > 1:
        raise ImageFileError(
            f"{folder}: folder holds {len(series)} DICOM series ({', '.join(series)}); "
            "put each series in a folder of its own"
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0]))
    return reader.Execute()


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # ITK messages end with the useful part ("... could not be read").
    return lines[-1] if lines else type(exc).__name__


def check_image(image: sitk.Image, source: str | os.PathLike) -> None:
    """Refuse images the library cannot use, naming ``source`` in the error.

    Checks: three dimensions (a trailing singleton 4th dimension is not accepted either), one
    component per voxel, strictly positive spacing, and no NaN or infinite voxels.
    """
    if image.GetDimension() != 3:
        raise ImageFileError(f"{source}: expected a 3D image, got {image.GetDimension()}D")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageFileError(
            f"{source}: expected one value per voxel, got {image.GetNumberOfComponentsPerPixel()}"
        )
    if min(image.GetSpacing()) <= 0:
        raise ImageFileError(f"{source}: spacing must be positive, got {image.GetSpacing()} mm")
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ImageFileError(f"{source}: {bad} voxels are NaN or infinite")


def write_image(image: sitk.Image, path: str | os.PathLike) -> Path:
    """Write ``image`` to ``path`` atomically (compressed where the format allows).

    The image goes to a temporary file beside ``path``, is verified (:func:`verify_written_image`:
    SimpleITK's writer does not raise on a short write, e.g. a full disk) and renamed into place,
    so ``path`` never holds a truncated image. Raises :class:`ImageFileError` (one line) when the
    write fails; no file is then left behind.
    """
    path = Path(path)
    suffix = image_suffix(path)
    if suffix is None:
        raise ImageFileError(f"{path}: unsupported image file type (use {', '.join(IMAGE_SUFFIXES)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name[: -len(suffix)]}.partial{suffix}")
    try:
        sitk.WriteImage(image, str(partial), useCompression=True)
        verify_written_image(partial, image)
        with open(partial, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except RuntimeError as exc:
        raise ImageFileError(f"{path}: cannot write image ({_first_line(exc)})") from None
    except ImageFileError as exc:
        raise ImageFileError(f"{path}: cannot write image ({exc})") from None
    finally:
        partial.unlink(missing_ok=True)
    return path


def verify_written_image(path: Path, image: sitk.Image) -> None:
    """Check that the file at ``path`` holds all of ``image``: its header re-read gives the same
    size and pixel type and, for NIfTI, the payload is all there (the file's length, or for
    ``.nii.gz`` the gzip trailer's uncompressed length); other formats are read back whole.

    Raises :class:`ImageFileError` (without the path) when it does not.
    """
    if not path.is_file() or path.stat().st_size == 0:
        raise ImageFileError("nothing was written (disk full?)")
    suffix = image_suffix(path)
    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        if reader.GetSize() != image.GetSize() or reader.GetPixelID() != image.GetPixelID():
            raise ImageFileError(f"re-read header gives size {reader.GetSize()}, expected {image.GetSize()}")
        if suffix not in (".nii", ".nii.gz"):
            sitk.ReadImage(str(path))
            return
    except RuntimeError as exc:
        raise ImageFileError(f"written file cannot be read back ({_first_line(exc)})") from None
    expected = _nifti_length(path, image)
    if suffix == ".nii":
        written = path.stat().st_size
    else:
        with open(path, "rb") as stream:
            stream.seek(-4, os.SEEK_END)
            written = int.from_bytes(stream.read(4), "little")  # gzip ISIZE: length mod 2^32
        expected %= 2**32
    if written != expected:
        raise ImageFileError(f"short write: {written} of {expected} bytes (disk full?)")


def _nifti_length(path: Path, image: sitk.Image) -> int:
    """Uncompressed length (bytes) a NIfTI file of ``image`` has: header offset plus voxels."""
    import nibabel

    try:
        offset = int(nibabel.load(path).dataobj.offset)
    except Exception as exc:  # nibabel raises many types for damaged files
        raise ImageFileError(f"written header cannot be read back ({_first_line(exc)})") from None
    voxels = int(np.prod(image.GetSize())) * image.GetNumberOfComponentsPerPixel()
    return offset + voxels * sitk.GetArrayViewFromImage(image).dtype.itemsize


def same_grid(a: sitk.Image, b: sitk.Image, tolerance: float = GRID_TOLERANCE) -> bool:
    """Whether two images share size, spacing, origin and direction (within ``tolerance``)."""
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=tolerance, atol=0)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tolerance * max(a.GetSpacing()) * 10)
        and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tolerance)
    )


def describe_grid(image: sitk.Image) -> str:
    """One line: size (voxels), spacing (mm) and origin (LPS mm)."""
    spacing = ", ".join(f"{s:g}" for s in image.GetSpacing())
    origin = ", ".join(f"{o:.1f}" for o in image.GetOrigin())
    return f"size {'x'.join(map(str, image.GetSize()))}, spacing ({spacing}) mm, origin ({origin})"


def require_same_grid(image: sitk.Image, reference: sitk.Image, name: str, reference_name: str) -> None:
    """Raise :class:`GridMismatchError` unless ``image`` lies on ``reference``'s grid."""
    if not same_grid(image, reference):
        raise GridMismatchError(
            f"{name} is on a different grid ({describe_grid(image)}) from {reference_name} "
            f"({describe_grid(reference)}); resample it onto {reference_name} "
            "(command line: --resample)"
        )


def resample_like(image: sitk.Image, reference: sitk.Image, *, is_label: bool = False) -> sitk.Image:
    """Resample ``image`` onto ``reference``'s grid, keeping its pixel type.

    Intensities use B-spline interpolation, labels nearest neighbour; voxels that fall outside
    ``image`` become 0.
    """
    interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkBSpline
    return sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0, image.GetPixelID())


def copy_geometry(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """A SimpleITK image holding ``array`` (z, y, x) on ``reference``'s grid."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def voxel_points_lps(image: sitk.Image, indices_zyx: np.ndarray) -> np.ndarray:
    """LPS positions (mm) of ``image``'s voxels at ``indices_zyx`` (n, 3), shape (n, 3)."""
    xyz = np.asarray(indices_zyx)[:, ::-1].astype(float)
    direction = np.reshape(image.GetDirection(), (3, 3))
    return np.asarray(image.GetOrigin()) + (xyz * np.asarray(image.GetSpacing())) @ direction.T


def ras_to_lps(point: tuple[float, float, float]) -> tuple[float, float, float]:
    """Convert a point between RAS (Slicer) and LPS (ITK, DICOM): negate x and y. Its own inverse."""
    x, y, z = point
    return (-float(x), -float(y), float(z))


lps_to_ras = ras_to_lps
