"""Artifact measures that tell a painted lesion from a real one without a trained network.

- **Checkerboard energy**: the mean squared response of the 2x2x2 alternating-sign filter
  (``(-1) ** (z + y + x) / 8`` over a 2x2x2 block) over the blocks that lie wholly inside a mask.
  The filter passes only the highest spatial frequency on all three axes, the 2-voxel grid that
  transposed or sub-pixel up-sampling leaves; it is zero on any intensity that is a sum of
  terms each constant along one axis (constants, linear ramps, a gradient along one axis). The
  *checkerboard index* of a synthetic lesion is its energy
  divided by the real lesion's (1 = as real; the generator issue's target is at most 1.5).
- **Band bias**: the relative difference of the mean intensity of the margin band (the synthesis
  region minus the lesion) between a synthetic and the real image: ``(synthetic - real) / real``
  (0 = seamless; a bright halo is positive).

Both take (z, y, x) arrays on one grid; intensities in any one scale shared by the two images
compared (e.g. normalized by :func:`~SynthPathologyLib.networks.conditioning.intensity_scale`).
"""

from __future__ import annotations

import itertools

import numpy as np

_CORNERS = tuple(itertools.product((0, 1), repeat=3))


def _corner(array: np.ndarray, offset: tuple[int, int, int]) -> np.ndarray:
    """The (z-1, y-1, x-1) view of ``array`` whose element (i, j, k) is ``array[(i, j, k) + offset]``."""
    return array[tuple(slice(o, n - 1 + o) for o, n in zip(offset, array.shape))]


def checkerboard_response(image: np.ndarray) -> np.ndarray:
    """(z-1, y-1, x-1) float64: the 2x2x2 alternating-sign filter at each block's lowest corner."""
    image = np.asarray(image, np.float64)
    response = np.zeros(tuple(n - 1 for n in image.shape))
    for offset in _CORNERS:
        response += (-1) ** sum(offset) * _corner(image, offset)
    return response / 8


def blocks_inside(mask: np.ndarray) -> np.ndarray:
    """(z-1, y-1, x-1) bool: the 2x2x2 blocks whose eight voxels all lie in ``mask``."""
    mask = np.asarray(mask, bool)
    inside = np.ones(tuple(n - 1 for n in mask.shape), bool)
    for offset in _CORNERS:
        inside &= _corner(mask, offset)
    return inside


def checkerboard_energy(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared 2x2x2 alternating-sign response over the blocks wholly inside ``mask``
    (image units squared); NaN when no block fits."""
    inside = blocks_inside(mask)
    if not inside.any():
        return float("nan")
    return float(np.mean(checkerboard_response(image)[inside] ** 2))


def checkerboard_index(synthetic: np.ndarray, real: np.ndarray, synthetic_mask: np.ndarray,
                       real_mask: np.ndarray | None = None) -> float:
    """Checkerboard energy of ``synthetic`` inside ``synthetic_mask`` over that of ``real`` inside
    ``real_mask`` (default the same mask: a repaint against its real counterpart)."""
    real_energy = checkerboard_energy(real, synthetic_mask if real_mask is None else real_mask)
    return checkerboard_energy(synthetic, synthetic_mask) / real_energy if real_energy > 0 else float("nan")


def band_bias(synthetic: np.ndarray, real: np.ndarray, region: np.ndarray, lesion: np.ndarray) -> float:
    """``(mean synthetic - mean real) / mean real`` over the band ``region & ~lesion``; NaN for an
    empty band or a zero real mean."""
    band = np.asarray(region, bool) & ~np.asarray(lesion, bool)
    if not band.any():
        return float("nan")
    real_mean = float(np.mean(real[band], dtype=np.float64))
    synthetic_mean = float(np.mean(synthetic[band], dtype=np.float64))
    return (synthetic_mean - real_mean) / real_mean if real_mean else float("nan")


def repaint_artifacts(real: np.ndarray, synthetic: np.ndarray, label: np.ndarray, contrasts: list[str]) -> dict:
    """``checkerboard_{contrast}`` (index inside the lesion) and ``band_bias_{contrast}`` of a repaint
    against its real counterpart: (C, z, y, x) intensities on one grid, ``label`` (z, y, x) the
    lesion both share. The synthesis region is where the two differ, with the lesion: a synthesis
    leaves every voxel outside its region bit-identical. Empty dict for a case without lesion."""
    lesion = label > 0
    if not lesion.any():
        return {}
    region = np.any(real != synthetic, axis=0) | lesion
    metrics = {}
    for index, contrast in enumerate(contrasts):
        metrics[f"checkerboard_{contrast}"] = checkerboard_index(synthetic[index], real[index], lesion)
        metrics[f"band_bias_{contrast}"] = band_bias(synthetic[index], real[index], region, lesion)
    return metrics
