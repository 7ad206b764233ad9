"""Where a synthesis may change voxels, and the crop of the volume the generator sees.

The synthesis region is the lesion (all its labels, edema included) grown by a margin, inside the
brain. Every voxel outside it stays bit-identical to the input. Arrays are (z, y, x) in voxel
order of the SimpleITK image they come from; margins are in mm.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .voxel_box import bounding_box, centered_box


# Context the generator needs around the region inside one patch (voxels, in total per axis).
CONTEXT_VOXELS = 4


def synthesis_region(label: np.ndarray, brain: np.ndarray, spacing_xyz: tuple[float, float, float],
                     margin_mm: float) -> np.ndarray:
    """Bool (z, y, x): voxels within ``margin_mm`` of any non-zero ``label`` voxel, inside ``brain``.

    The margin lets the generator blend the lesion into the surrounding tissue (mass effect,
    intensity transition) instead of pasting it.
    """
    return blended_region(label, brain, spacing_xyz, margin_mm)[0]


def blended_region(label: np.ndarray, brain: np.ndarray, spacing_xyz: tuple[float, float, float],
                   margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The :func:`synthesis_region` and the weight of generated tissue against the input in it,
    both from one distance map of the lesion.

    The weight (float32, z, y, x) is 1 on the lesion and up to half the margin from it, then falls
    linearly to 0 at ``margin_mm``; 0 outside the region. The feathered edge hides the seam a hard
    cut leaves where the generator's tissue meets the input's. Both arrays cover ``label``'s grid;
    only the lesion's box grown by the margin is ever written.
    """
    region = np.zeros(label.shape, bool)
    weight = np.zeros(label.shape, np.float32)
    if not label.any():
        return region, weight
    box = bounding_box(label, pad_voxels=np.ceil(margin_mm / np.asarray(spacing_xyz)[::-1]).astype(int) + 1)
    distance = distance_mm(label[box] > 0, spacing_xyz)
    region[box] = (distance <= margin_mm) & (brain[box] > 0)
    weight[box] = np.where(region[box], np.clip((margin_mm - distance) / (margin_mm / 2), 0.0, 1.0), 0.0)
    return region, weight


def distance_mm(mask: np.ndarray, spacing_xyz: tuple[float, float, float]) -> np.ndarray:
    """Float (z, y, x) distance in mm from each voxel to the nearest non-zero ``mask`` voxel (0 on it)."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in spacing_xyz))
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    return np.maximum(sitk.GetArrayFromImage(distance), 0.0)


def context_box(region: np.ndarray, patch_size: tuple[int, int, int]) -> tuple[slice, ...]:
    """The crop the generator sees for ``region``: one patch (``patch_size`` voxels, z, y, x) around
    the region's centre when the region fits in it with a few voxels of context, else the whole
    region with a quarter patch of context (then inferred with a sliding window)."""
    tight = bounding_box(region)
    center = np.array([(s.start + s.stop - 1) / 2 for s in tight])
    extent = [p if (s.stop - s.start) + CONTEXT_VOXELS <= p else (s.stop - s.start) + p // 4
              for s, p in zip(tight, patch_size)]
    return centered_box(center, tuple(extent), region.shape)
