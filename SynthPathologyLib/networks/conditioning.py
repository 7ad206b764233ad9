"""Intensity normalization and the generator's condition tensor.

Normalization: each contrast is divided by the 99.5th percentile of its brain voxels (so healthy
tissue lies roughly in [0, 1] whatever the scanner scale, and background stays 0); the inverse
multiplies back, so outputs keep the input's intensity scale.

Condition (C + L + 2, z, y, x), float32: the C normalized contrasts with the synthesis region
blanked to 0; the one-hot of the L non-background label values; the region mask; Gaussian noise
inside the region (the source of variety between random seeds). Generators that serve any subset
of contrasts (v2) also get, after the contrasts, C availability channels: 1 everywhere for a
contrast the case has, 0 for a missing one (whose contrast channel is 0 too): (2C + L + 2, z, y, x).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NORMALIZATION_PERCENTILE = 99.5


def intensity_scale(image: np.ndarray, brain: np.ndarray) -> float:
    """The normalization divisor of one contrast: its brain voxels' 99.5th percentile (> 0)."""
    values = image[brain > 0]
    scale = float(np.percentile(values, NORMALIZATION_PERCENTILE)) if values.size else 0.0
    return scale if scale > 0 else 1.0


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` in ``dtype``: rounded and clipped to its range for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return values.astype(dtype)


def build_condition(normalized: np.ndarray, label: np.ndarray, region: np.ndarray,
                    label_values: tuple[int, ...], noise: np.ndarray,
                    available: Sequence[bool] | None = None) -> np.ndarray:
    """The generator's input for one patch.

    Args:
        normalized: (C, z, y, x) float32 normalized contrasts (any values for a missing one).
        label: (z, y, x) integer label map (the pathology's values, 0 = background).
        region: (z, y, x) bool synthesis region (voxels the generator must fill).
        label_values: the pathology's non-background label values, in channel order.
        noise: (z, y, x) float32 standard normal noise.
        available: per contrast, whether the case has it (v2 generators), or None (v1: no
            availability channels, every contrast present).

    Returns:
        (C + len(label_values) + 2, z, y, x) float32, with ``available`` (2C + len(label_values) + 2, ...).
    """
    keep = ~region
    channels = [normalized * keep]
    if available is not None:
        flags = np.asarray(available, np.float32)[:, None, None, None]
        channels = [channels[0] * flags, np.broadcast_to(flags, normalized.shape)]
    channels.append(np.stack([label == v for v in label_values]).astype(np.float32))
    channels.append(region[None].astype(np.float32))
    channels.append((noise * region)[None].astype(np.float32))
    return np.concatenate(channels, axis=0).astype(np.float32, copy=False)
