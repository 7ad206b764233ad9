"""Seed -> lesion label map: generate a lesion from a :class:`LesionSpec`, or place an existing
label map (a BraTS segmentation, a user's drawing) at a seed; the lesion library.

Both refuse, with :class:`LesionPlacementError` naming the seed (RAS and LPS), a seed outside the
image or outside the brain mask, and a lesion that cannot fit in the brain: a core larger than the
brain (largest diameter over the brain's largest bounding-box side, or volume over the brain's
volume), or less than ``MIN_CORE_INSIDE`` of the core's volume left inside the brain after
clipping. They also refuse a core under ``MIN_CORE_VOXELS`` voxels of the reference image, which
voxelization cannot draw at the asked volume.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..core.errors import LesionPlacementError
from ..core.image_io import copy_geometry, lps_to_ras, require_same_grid, voxel_points_lps
from ..core.labels import check_label
from ..core.voxel_box import bounding_box
from ..pathologies import get_pathology
from .spec import LesionSpec

# Fraction of the requested core volume that must lie inside the brain after clipping.
MIN_CORE_INSIDE = 0.5
# Smallest core, in voxels of the reference image: below it voxelization error swamps the shape
# (and the inside fraction).
MIN_CORE_VOXELS = 10


def generate_lesion(
    spec: LesionSpec, reference: sitk.Image, brain_mask: sitk.Image, white_matter: sitk.Image | None = None
) -> sitk.Image:
    """The lesion ``spec`` asks for, as a uint8 label map on ``reference``'s grid.

    Labels are the pathology's values (glioma: 1 NCR, 2 ED, 3 ET), all inside ``brain_mask``.
    The shape is built on a crop around the seed reaching the largest diameter plus the edema
    extent (twice the largest semi-axis, so irregular lobes fit) and pasted back.

    Args:
        spec: the request; ``spec.center_lps`` in physical LPS mm.
        reference: the image whose grid the label map takes.
        brain_mask: non-zero inside the brain, on ``reference``'s grid.
        white_matter: white-matter probability in [0, 1] on ``reference``'s grid, or None; edema
            spreads faster along it.

    Raises:
        LesionPlacementError: see the module docstring.
        GridMismatchError: a mask is not on ``reference``'s grid.
    """
    pathology = get_pathology(spec.pathology)
    brain = _brain_array(brain_mask, reference)
    seed = spec.center_lps
    _check_seed(seed, reference, brain)
    _check_size(seed, max(spec.diameters_mm), spec.core_volume_mm3(), reference, brain)

    radius = max(spec.diameters_mm) + spec.composition.edema_extent_mm + 2 * max(reference.GetSpacing())
    crop, box = _crop_around(reference, seed, radius)
    wm = None
    if white_matter is not None:
        require_same_grid(white_matter, reference, "white-matter map", "the reference image")
        wm = sitk.GetArrayViewFromImage(white_matter)[box].astype(np.float32)
    regions = pathology.shape(spec, crop, brain[box], wm)

    label = np.zeros(brain.shape, np.uint8)
    for region, mask in regions.items():
        label[box][mask] = pathology.value_of(region)
    core_voxels = sum(np.count_nonzero(regions[r]) for r in pathology.core_regions)
    _check_core_inside(seed, core_voxels * _voxel_mm3(reference), spec.core_volume_mm3())
    return copy_geometry(label, reference)


def place_label_map(
    label: sitk.Image,
    reference: sitk.Image,
    center_lps: tuple[float, float, float],
    brain_mask: sitk.Image,
    *,
    scale: float = 1.0,
    orientation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
    pathology: str = "glioma",
) -> sitk.Image:
    """Place an existing lesion label map at a seed: the lesion library.

    The source's core centroid moves to ``center_lps``; the label is scaled by ``scale`` and
    rotated by ``orientation_deg`` (the convention of :meth:`LesionSpec.rotation`) about it,
    resampled with nearest neighbour onto ``reference``'s grid and clipped to the brain.

    Args:
        label: source label map on any grid, already in the pathology's internal values.
        reference: the image whose grid the result takes.
        center_lps: seed, physical LPS mm.
        brain_mask: non-zero inside the brain, on ``reference``'s grid.
        scale: linear scale factor (> 0); the volume scales by ``scale**3``.
        orientation_deg: rotations about x, then y, then z (degrees, extrinsic).
        pathology: registered pathology whose labels ``label`` holds.

    Returns:
        uint8 label map on ``reference``'s grid.

    Raises:
        LesionPlacementError: see the module docstring; also a source without a core.
        CaseError: ``label`` holds values that are not the pathology's.
    """
    if not scale > 0:
        raise LesionPlacementError(f"scale must be > 0, got {scale}")
    info = get_pathology(pathology)
    check_label(label, info, "lesion label map")
    brain = _brain_array(brain_mask, reference)
    _check_seed(center_lps, reference, brain)
    core = _core_points_lps(label, info.core_values)
    centroid = core.mean(axis=0)
    volume = len(core) * _voxel_mm3(label) * scale**3
    _check_size(center_lps, float(np.ptp(core, axis=0).max()) * scale, volume, reference, brain)

    transform = placement_transform(centroid, center_lps, scale, orientation_deg)
    # Only the crop the placed lesion can cover is resampled (a full 1 mm grid takes ~1 s).
    lesion = _points_lps(label, sitk.GetArrayViewFromImage(label) != 0)
    reach = np.linalg.norm(lesion - centroid, axis=1).max() * scale
    crop, box = _crop_around(reference, center_lps, reach + max(reference.GetSpacing()))
    placed = sitk.Resample(
        sitk.Cast(label, sitk.sitkUInt8), crop, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )

    result = np.zeros(brain.shape, np.uint8)
    result[box] = sitk.GetArrayViewFromImage(placed) * brain[box]
    core_voxels = np.count_nonzero(np.isin(result[box], info.core_values))
    _check_core_inside(center_lps, core_voxels * _voxel_mm3(reference), volume)
    return copy_geometry(result, reference)


def placement_transform(centroid_lps, center_lps, scale: float, orientation_deg) -> sitk.AffineTransform:
    """The transform :func:`place_label_map` resamples with: from a placed point (LPS mm) back to the
    source label's point, y -> R^T (y - center) / scale + centroid, R the rotation of
    ``orientation_deg`` (as :meth:`LesionSpec.rotation`). Its inverse places source points."""
    rotation = sitk.Euler3DTransform()
    rotation.SetComputeZYX(True)  # R = Rz Ry Rx, as LesionSpec.rotation
    rotation.SetRotation(*np.deg2rad(orientation_deg))
    transform = sitk.AffineTransform(3)
    transform.SetCenter(tuple(float(v) for v in center_lps))
    transform.SetMatrix(tuple((np.reshape(rotation.GetMatrix(), (3, 3)).T / scale).ravel()))
    transform.SetTranslation(tuple(np.asarray(centroid_lps, float) - np.asarray(center_lps, float)))
    return transform


def kept_core(label: sitk.Image, spec: LesionSpec) -> tuple[float, float]:
    """(core volume of ``label``, core volume ``spec`` asked for), both mm^3: what a lesion clipped at
    the brain's edge (or beside an existing lesion) kept."""
    core = np.isin(sitk.GetArrayViewFromImage(label), get_pathology(spec.pathology).core_values)
    return float(np.count_nonzero(core) * _voxel_mm3(label)), spec.core_volume_mm3()


def core_centroid_lps(label: sitk.Image, pathology: str = "glioma") -> np.ndarray:
    """Centroid of the label's tumor core (the pathology's core values), physical LPS mm, shape (3,).

    Raises:
        LesionPlacementError: the label has no core voxel.
    """
    return _core_points_lps(label, get_pathology(pathology).core_values).mean(axis=0)


def _core_points_lps(label: sitk.Image, core_values: tuple[int, ...]) -> np.ndarray:
    """Physical LPS positions (mm) of the label's core voxels, shape (n, 3); refuses an empty core."""
    points = _points_lps(label, np.isin(sitk.GetArrayViewFromImage(label), core_values))
    if len(points) == 0:
        raise LesionPlacementError(
            f"label map has no tumor core (no voxel with value {', '.join(map(str, core_values))})"
        )
    return points


def _points_lps(image: sitk.Image, mask: np.ndarray) -> np.ndarray:
    """Physical LPS positions (mm) of the voxels of ``image`` where ``mask`` (z, y, x) is true,
    shape (n, 3)."""
    return voxel_points_lps(image, np.argwhere(mask))


def _brain_array(brain_mask: sitk.Image, reference: sitk.Image) -> np.ndarray:
    """The brain mask as bool (z, y, x), checked to lie on ``reference``'s grid."""
    require_same_grid(brain_mask, reference, "brain mask", "the reference image")
    return sitk.GetArrayViewFromImage(brain_mask) != 0


def _seed_error(seed_lps: tuple[float, float, float], problem: str) -> LesionPlacementError:
    ras = ", ".join(f"{v + 0.0:.1f}" for v in lps_to_ras(seed_lps))  # + 0.0 turns -0.0 into 0.0
    lps = ", ".join(f"{v + 0.0:.1f}" for v in seed_lps)
    return LesionPlacementError(f"seed at RAS ({ras}) mm [LPS ({lps})]: {problem}")


def _check_seed(seed: tuple[float, float, float], reference: sitk.Image, brain: np.ndarray) -> None:
    """Refuse a seed outside the image or outside the brain."""
    index = np.asarray(reference.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in seed)))
    size = np.asarray(reference.GetSize())
    if not np.all((index >= -0.5) & (index < size - 0.5)):  # also refuses NaN
        raise _seed_error(seed, "outside the image")
    x, y, z = np.floor(index + 0.5).astype(int)
    if not brain[z, y, x]:
        raise _seed_error(seed, "outside the brain mask")


def _check_size(
    seed: tuple[float, float, float],
    diameter_mm: float,
    volume_mm3: float,
    reference: sitk.Image,
    brain: np.ndarray,
) -> None:
    """Refuse a core smaller than ``MIN_CORE_VOXELS`` voxels, or larger than the brain: largest
    diameter over the largest side of the brain's bounding box, or volume over the brain's volume."""
    voxel = _voxel_mm3(reference)
    if volume_mm3 < MIN_CORE_VOXELS * voxel:
        raise _seed_error(
            seed,
            f"a core of {volume_mm3:.0f} mm^3 is under {MIN_CORE_VOXELS} voxels of this image "
            f"({voxel:.3g} mm^3 each); enlarge it",
        )
    brain_volume = np.count_nonzero(brain) * voxel
    if volume_mm3 > brain_volume:
        raise _seed_error(
            seed,
            f"a core of {volume_mm3 / 1000:.0f} ml cannot fit in a brain of {brain_volume / 1000:.0f} ml",
        )
    sides = bounding_box(brain)[::-1]  # x, y, z
    extent = max((s.stop - s.start) * spacing for s, spacing in zip(sides, reference.GetSpacing()))
    if diameter_mm > extent:
        raise _seed_error(
            seed, f"a core {diameter_mm:.0f} mm across cannot fit in a brain {extent:.0f} mm across"
        )


def _check_core_inside(seed: tuple[float, float, float], inside_mm3: float, target_mm3: float) -> None:
    """Refuse a lesion that keeps less than ``MIN_CORE_INSIDE`` of its core inside the brain."""
    if inside_mm3 < MIN_CORE_INSIDE * target_mm3:
        raise _seed_error(
            seed,
            f"only {100 * inside_mm3 / target_mm3:.0f}% of the tumor core lies inside the brain "
            f"(at least {100 * MIN_CORE_INSIDE:.0f}% needed); move the seed inwards or shrink the lesion",
        )


def _crop_around(
    reference: sitk.Image, center_lps: tuple[float, float, float], radius_mm: float
) -> tuple[sitk.Image, tuple[slice, slice, slice]]:
    """The part of ``reference``'s grid within ``radius_mm`` of ``center_lps`` along each axis.

    Returns an empty image carrying the crop's geometry, and the (z, y, x) slices that cut the
    crop out of a full-grid array.
    """
    index = np.asarray(reference.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in center_lps)))
    half = radius_mm / np.asarray(
        reference.GetSpacing()
    )  # a ball of radius r spans r / spacing voxels per axis
    low = np.maximum(np.floor(index - half), 0).astype(int)
    high = np.minimum(np.ceil(index + half) + 1, reference.GetSize()).astype(int)
    crop = sitk.Image([int(v) for v in high - low], sitk.sitkUInt8)
    crop.SetSpacing(reference.GetSpacing())
    crop.SetDirection(reference.GetDirection())
    crop.SetOrigin(reference.TransformIndexToPhysicalPoint([int(v) for v in low]))
    box = tuple(slice(lo, hi) for lo, hi in zip(low[::-1], high[::-1]))
    return crop, box


def _voxel_mm3(image: sitk.Image) -> float:
    return float(np.prod(image.GetSpacing()))
