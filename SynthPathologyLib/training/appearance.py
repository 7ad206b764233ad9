"""Random appearance of a training patch (domain randomization): per contrast a gamma curve, a
smooth multiplicative bias field, sometimes a blur, and noise, so that the generator reads each
contrast's appearance from the context around the region instead of memorizing one scanner's (or
the phantom's) intensities.

Patches are (C, z, y, x) float32 in normalized units (healthy tissue roughly in [0, 1], background
0); the background stays 0 (BraTS images are 0 outside the brain).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GAMMA_LOG_RANGE = 0.3  # gamma = exp(U(-0.3, 0.3)): 0.74 - 1.35
BIAS_STD = 0.1  # log bias field: linear + quadratic terms across the patch, each N(0, 0.1)
BLUR_PROBABILITY = 0.3
BLUR_SIGMA_VOXELS = (0.3, 1.0)
NOISE_STD_MAX = 0.03


def randomize_appearance(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (C, z, y, x) with a random appearance per contrast (see the module docstring)."""
    foreground = image != 0
    axes = np.meshgrid(*(np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in image.shape[1:]), indexing="ij")
    terms = [*axes, *(a * a for a in axes)]
    out = np.empty_like(image)
    for c, channel in enumerate(image):
        x = np.maximum(channel, 0) ** np.float32(np.exp(rng.uniform(-GAMMA_LOG_RANGE, GAMMA_LOG_RANGE)))
        x *= np.exp(sum(np.float32(rng.normal(0.0, BIAS_STD)) * t for t in terms))
        if rng.random() < BLUR_PROBABILITY:
            x = ndimage.gaussian_filter(x, rng.uniform(*BLUR_SIGMA_VOXELS))
        x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(rng.uniform(0.0, NOISE_STD_MAX))
        out[c] = np.where(foreground[c], x, 0)
    return out
