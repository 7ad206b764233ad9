"""Diversity: MS-SSIM among the variants of one seed (same source case and lesion placement,
different random seeds). 1 means the variants are identical; lower means more varied.

MONAI's 3D MS-SSIM with its default five scales and 11-voxel window needs sides over 160 voxels;
lesion crops are smaller, so three scales (the first three default weights, renormalized) and a
5-voxel Gaussian window are used: crops need sides of at least 20 voxels, and are grown to 24.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
from monai.metrics import MultiScaleSSIMMetric

from ..core.voxel_box import bounding_box, centered_box
from .paired import DATA_RANGE

_DEFAULT_WEIGHTS = (0.0448, 0.2856, 0.3001)
WEIGHTS = tuple(w / sum(_DEFAULT_WEIGHTS) for w in _DEFAULT_WEIGHTS)
KERNEL_SIZE = 5
KERNEL_SIGMA = 1.0
MIN_SIDE = 24


def variant_ms_ssim(variants: list[np.ndarray], region: np.ndarray) -> float:
    """Mean pairwise MS-SSIM among (C, z, y, x) normalized variants, on the crop around ``region``
    ((z, y, x) bool: where any variant was painted). Needs two variants at least."""
    tight = bounding_box(region)
    size = tuple(max(MIN_SIDE, s.stop - s.start) for s in tight)
    center = np.array([(s.start + s.stop - 1) / 2 for s in tight])
    crop = (slice(None), *centered_box(center, size, region.shape))
    metric = MultiScaleSSIMMetric(spatial_dims=3, data_range=DATA_RANGE, kernel_size=KERNEL_SIZE,
                                  kernel_sigma=KERNEL_SIGMA, weights=WEIGHTS)
    tensors = [torch.from_numpy(np.ascontiguousarray(v[crop], np.float32))[None] for v in variants]
    scores = [float(metric(a, b).mean()) for a, b in combinations(tensors, 2)]
    return float(np.mean(scores))
