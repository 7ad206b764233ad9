"""Where a synthesis may change voxels, and the crop of the volume the generator sees.

The synthesis region is the lesion (all its labels, edema included) grown by a margin, inside the
brain. Every voxel outside it stays bit-identical to the input. Arrays are (z, y, x) in voxel
order of the SimpleITK image they come from; margins are in mm.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


# Context the generator needs around the region inside one patch (voxels, in total per axis).
CONTEXT_VOXELS = 4


def synthesis_region(label: np.ndarray, brain: np.ndarray, spacing_xyz: tuple[float, float, float],
                     margin_mm: float) -> np.ndarray:
    """Bool (z, y, x): voxels within ``margin_mm`` of any non-zero ``label`` voxel, inside ``brain``.

    The margin lets the generator blend the lesion into the surrounding tissue (mass effect,
    intensity transition) instead of pasting it.
    """
    lesion = label > 0
    if not lesion.any():
        return np.zeros(label.shape, bool)
    box = bounding_box(lesion, pad_voxels=np.ceil(margin_mm / np.asarray(spacing_xyz)[::-1]).astype(int) + 1,
                       shape=label.shape)
    region = np.zeros(label.shape, bool)
    region[box] = distance_mm(lesion[box], spacing_xyz) <= margin_mm
    return region & (brain > 0)


def blend_weight(lesion: np.ndarray, region: np.ndarray, spacing_xyz: tuple[float, float, float],
                 margin_mm: float) -> np.ndarray:
    """Float32 (z, y, x) weight of the generated image against the input inside ``region``: 1 on
    the lesion and up to half the margin from it, then falling linearly to 0 at ``margin_mm``;
    0 outside the region. The feathered edge hides the seam a hard cut leaves where the
    generator's tissue meets the input's.

    ``lesion`` and ``region`` are crops of the same box holding the whole region.
    """
    if not lesion.any():
        return region.astype(np.float32)
    ramp = np.clip((margin_mm - distance_mm(lesion, spacing_xyz)) / (margin_mm / 2), 0.0, 1.0)
    return np.where(region, ramp, 0.0).astype(np.float32)


def distance_mm(mask: np.ndarray, spacing_xyz: tuple[float, float, float]) -> np.ndarray:
    """Float (z, y, x) distance in mm from each voxel to the nearest non-zero ``mask`` voxel (0 on it)."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in spacing_xyz))
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    return np.maximum(sitk.GetArrayFromImage(distance), 0.0)


def bounding_box(mask: np.ndarray, pad_voxels=0, shape: tuple[int, ...] | None = None) -> tuple[slice, ...]:
    """Slices (z, y, x) of the smallest box holding ``mask``'s non-zero voxels, grown by
    ``pad_voxels`` (one value or one per axis) and clipped to ``shape`` (default: mask's)."""
    shape = shape or mask.shape
    pad = np.broadcast_to(np.asarray(pad_voxels, int), (3,))
    # Per-axis projections: ~10x faster than np.nonzero on a whole brain volume.
    present = [np.flatnonzero(np.any(mask, axis=tuple(a for a in range(mask.ndim) if a != axis)))
               for axis in range(mask.ndim)]
    return tuple(
        slice(max(int(idx.min()) - p, 0), min(int(idx.max()) + 1 + p, n))
        for idx, p, n in zip(present, pad, shape)
    )


def centered_box(center_zyx: np.ndarray, size_zyx: tuple[int, int, int], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices of a box of ``size_zyx`` voxels around ``center_zyx``, shifted to lie inside
    ``shape`` (or the whole axis when ``shape`` is smaller than the box)."""
    slices = []
    for c, size, n in zip(center_zyx, size_zyx, shape):
        start = int(round(float(c))) - size // 2
        start = min(max(start, 0), max(n - size, 0))
        slices.append(slice(start, min(start + size, n)))
    return tuple(slices)


def context_box(region: np.ndarray, patch_size: tuple[int, int, int]) -> tuple[slice, ...]:
    """The crop the generator sees for ``region``: one patch (``patch_size`` voxels, z, y, x) around
    the region's centre when the region fits in it with a few voxels of context, else the whole
    region with a quarter patch of context (then inferred with a sliding window)."""
    tight = bounding_box(region)
    center = np.array([(s.start + s.stop - 1) / 2 for s in tight])
    extent = [p if (s.stop - s.start) + CONTEXT_VOXELS <= p else (s.stop - s.start) + p // 4
              for s, p in zip(tight, patch_size)]
    return centered_box(center, tuple(extent), region.shape)
