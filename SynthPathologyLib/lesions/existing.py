"""A case's own lesions: the room a new lesion may use beside them, and the segmentation that keeps
them (the union of the existing label and the new lesion)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..core.errors import LesionPlacementError
from ..core.image_io import copy_geometry, lps_to_ras, require_same_grid

# Default gap (mm) between a new lesion (edema included) and the case's existing lesions.
DEFAULT_GAP_MM = 5.0


def lesion_free_brain(brain_mask: sitk.Image, label: sitk.Image | None, gap_mm: float = DEFAULT_GAP_MM) -> sitk.Image:
    """The brain voxels farther than ``gap_mm`` from every labelled voxel of ``label``, uint8 on
    ``brain_mask``'s grid: where a new lesion and its synthesis region may go. With no label (or
    an empty one) it is the brain mask.

    Raises:
        LesionPlacementError: ``gap_mm`` < 0.
    """
    if gap_mm < 0:
        raise LesionPlacementError(f"the gap to existing lesions must be >= 0 mm, got {gap_mm}")
    brain = sitk.GetArrayViewFromImage(brain_mask) != 0
    if label is None or not sitk.GetArrayViewFromImage(label).any():
        return copy_geometry(brain.astype(np.uint8), brain_mask)
    require_same_grid(label, brain_mask, "existing label", "the brain mask")
    existing = sitk.Cast(label != 0, sitk.sitkUInt8)
    distance = sitk.SignedMaurerDistanceMap(existing, insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=True)
    room = brain & (sitk.GetArrayViewFromImage(distance) > gap_mm)
    return copy_geometry(room.astype(np.uint8), brain_mask)


def check_seed_clear(seed_lps: tuple[float, float, float], room: sitk.Image, gap_mm: float) -> None:
    """Refuse a seed outside ``room`` (:func:`lesion_free_brain`) while inside the brain: it lies
    in or within ``gap_mm`` of an existing lesion."""
    index = room.TransformPhysicalPointToIndex(tuple(float(v) for v in seed_lps))
    inside = all(0 <= i < n for i, n in zip(index, room.GetSize()))
    if inside and not room[index]:
        ras = ", ".join(f"{v + 0.0:.1f}" for v in lps_to_ras(seed_lps))
        raise LesionPlacementError(
            f"seed at RAS ({ras}) mm lies outside the brain or within {gap_mm:g} mm of the case's existing lesion; "
            "move it or lower --gap-mm")


def union_labels(existing: sitk.Image | None, new: sitk.Image) -> sitk.Image:
    """The segmentation of a case after inserting ``new``: every labelled voxel of ``existing``
    keeps its value, ``new``'s labels fill the rest (uint8 on ``new``'s grid)."""
    if existing is None:
        return new
    require_same_grid(existing, new, "existing label", "the new lesion")
    old = sitk.GetArrayViewFromImage(existing)
    merged = np.where(old != 0, old, sitk.GetArrayViewFromImage(new)).astype(np.uint8)
    return copy_geometry(merged, new)
