"""Give painted tissue the grain of the image it is painted into.

A generator's finest-scale texture is its own, not the scan's: on a smooth, interpolated scan
(BraTS-preprocessed clinical images) its voxel-scale grain shows as a stripe pattern a real lesion
never has; on a noisy 1 mm scan its smooth output shows as a clean blob in noisy tissue. Both are
mismatches of the *fine-scale energy*: the mean squared response of the 2x2x2 alternating-sign
filter (:func:`~SynthPathologyLib.evaluation.artifacts.checkerboard_energy`), which passes only the
highest spatial frequency and ignores smooth anatomy. The painting's energy is taken whole (a
generator's stripes are a heavy tail: a few strong blocks); the scan's is its *noise floor*, the
lower half of its squared responses scaled to a normal variance, which ignores the edges and
vessels of the brain around the region (they raise the mean 1.4-4.8x over that of a real lesion on
the real gliomas; the floor stays within 0.56-1.24x of it). The painting is brought to the floor:

- finer than its surroundings: its detail finer than a Gaussian of :data:`DETAIL_SIGMA_VOXELS`
  (the image minus that Gaussian's smoothing: the generator's voxel-scale grain) is scaled down
  so that the fine-scale energy is the floor. Smoothing the whole painting instead
  overshoots: the fine-scale energy falls by orders of magnitude between Gaussians 0.15 voxel
  apart, so a painting smoothed enough looks blurred;
- smoother than its surroundings: white Gaussian noise is added with the missing energy (white
  noise of voxel standard deviation s has fine-scale energy s**2 / 8), drawn from the
  synthesis's random seed, so the result stays deterministic.

Arrays are (z, y, x) crops on one grid, intensities in the image's own units.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.voxel_box import bounding_box
from ..evaluation.artifacts import blocks_inside, checkerboard_response

# The Gaussian (voxels) whose residual is the detail scaled down: wide enough that the smoothed
# painting has almost no fine-scale energy left, narrow enough to keep 3-voxel structure.
DETAIL_SIGMA_VOXELS = 1.0
# The share of the scan's squared responses, lowest first, that estimates its noise floor.
FLOOR_FRACTION = 0.5
# E[r**2 | r**2 <= its median] for a standard normal r (chi2(3).cdf(q) / 0.5 at q = chi2(1)'s median):
# turns the lower half's mean into a variance.
_LOWER_HALF_NORMAL_MEAN = 0.142645
# Fewer 2x2x2 blocks than this give no estimate (the texture is then left as generated).
MIN_BLOCKS = 64
# Fine-scale energies within this factor of each other count as matching.
TOLERANCE = 1.25


def noise_floor(image: np.ndarray, mask: np.ndarray) -> float | None:
    """Fine-scale noise variance of ``image`` over the 2x2x2 blocks wholly inside ``mask`` (image
    units squared): the mean of the lowest :data:`FLOOR_FRACTION` of the squared alternating-sign
    responses (taken by rank, so an integer image's ties do not shift it), scaled to the variance of a
    normal response. None when fewer than :data:`MIN_BLOCKS` blocks fit."""
    inside = blocks_inside(mask)
    if int(inside.sum()) < MIN_BLOCKS:
        return None
    squared = checkerboard_response(image)[inside] ** 2
    kept = max(1, int(len(squared) * FLOOR_FRACTION))
    return float(np.partition(squared, kept - 1)[:kept].mean()) / _LOWER_HALF_NORMAL_MEAN


def match_fine_texture(generated: np.ndarray, source: np.ndarray, region: np.ndarray, core: np.ndarray,
                       context: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """``generated`` (the generator's crop, image units) with its fine-scale energy brought to the
    noise floor of ``source`` (the input crop) over ``context``. Bool masks on the crop: ``region``
    the synthesis region, ``core`` its new tissue (the lesion or mask; the energy is measured there,
    where a reader looks and the stripes are strongest, or over the region when the core is too
    small to measure), ``context`` the brain voxels around the region. Voxels outside ``region``'s
    box grown by a few voxels are returned unchanged.

    Returns the adjusted crop (float64) and what was done: ``{"detail_scale": a}`` (the fine detail
    multiplied by a < 1), ``{"noise_sd": s}`` (noise added, image units), or ``{}`` (within
    :data:`TOLERANCE` of the floor, or too few blocks to tell).
    """
    generated = np.asarray(generated, np.float64)
    target = noise_floor(source, context)
    # Everything measured lies in the region's box: the painting's responses are taken there once.
    box = bounding_box(region, pad_voxels=int(np.ceil(3 * DETAIL_SIGMA_VOXELS)))
    blocks = blocks_inside((core & region)[box])
    if int(blocks.sum()) < MIN_BLOCKS:
        blocks = blocks_inside(region[box])
    if target is None or int(blocks.sum()) < MIN_BLOCKS:
        return generated, {}
    crop = generated[box]
    response = checkerboard_response(crop)
    current = _energy(response, blocks)
    if current * TOLERANCE >= target and target * TOLERANCE >= current:
        return generated, {}
    adjusted = generated.copy()
    if current > target:
        smoothed = ndimage.gaussian_filter(crop, DETAIL_SIGMA_VOXELS, truncate=3.0)
        smoothed_response = checkerboard_response(smoothed)
        # The response is linear: the detail's is the difference of the two, and scaling the
        # detail by a scales its fine-scale energy by a**2.
        left = target - _energy(smoothed_response, blocks)
        detail = max(_energy(response - smoothed_response, blocks), 1e-30)
        scale = float(np.sqrt(np.clip(left / detail, 0.0, 1.0)))
        adjusted[box] = smoothed + scale * (crop - smoothed)
        return adjusted, {"detail_scale": scale}
    sd = float(np.sqrt(8.0 * (target - current)))
    adjusted[box] += sd * rng.standard_normal(crop.shape)
    return adjusted, {"noise_sd": sd}


def _energy(response: np.ndarray, blocks: np.ndarray) -> float:
    """Mean squared alternating-sign ``response`` over the ``blocks`` (bool, its shape)."""
    return float(np.mean(response[blocks] ** 2))
