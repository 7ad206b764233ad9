"""Where lesions grow: a site prior per pathology over the brain's lobes.

Lobes are coarse regions of the brain's bounding box, for heads aligned with the LPS axes (BraTS,
MNI and most skull-stripped research data are): with ``a`` the fraction of the brain's
anterior-posterior extent from its front, ``s`` the fraction of its height from its bottom and
``l`` the distance from the mid-sagittal plane as a fraction of the half-width,

============  ==========================================================
lobe          region
============  ==========================================================
frontal       a < 0.40 and s >= 0.40
temporal      0.20 <= a < 0.70, s < 0.45 and l >= 0.35
parietal      0.40 <= a < 0.75 and s >= 0.45
occipital     a >= 0.75 and s >= 0.30
============  ==========================================================

The cerebellum, brainstem and deep midline (low and posterior, or low and medial) belong to no
lobe. Gliomas: frontal 0.45, temporal 0.30, parietal 0.20, occipital 0.05 (adult supratentorial
gliomas by lobe; Larjavaara et al., Neuro-Oncology 2007: frontal 40%, temporal 29%, parietal 14%,
occipital 3% of all gliomas, the rest deep or overlapping), inside lobar white matter.
"""

from __future__ import annotations

import numpy as np

LOBES = ("frontal", "temporal", "parietal", "occipital")
SITE_PRIORS: dict[str, dict[str, float]] = {
    "glioma": {"frontal": 0.45, "temporal": 0.30, "parietal": 0.20, "occipital": 0.05},
}


def lobe_of(points_lps: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The lobe index (into :data:`LOBES`, -1 for none) of each point.

    Args:
        points_lps: (n, 3) physical LPS points (mm).
        low, high: (3,) corners of the brain's bounding box (LPS mm).
    """
    extent = np.maximum(high - low, 1e-6)
    a = (points_lps[:, 1] - low[1]) / extent[1]  # LPS y grows towards posterior: 0 is the front
    s = (points_lps[:, 2] - low[2]) / extent[2]
    lateral = np.abs(points_lps[:, 0] - (low[0] + high[0]) / 2) / (extent[0] / 2)
    lobes = np.full(len(points_lps), -1)
    regions = (
        (a < 0.40) & (s >= 0.40),
        (a >= 0.20) & (a < 0.70) & (s < 0.45) & (lateral >= 0.35),
        (a >= 0.40) & (a < 0.75) & (s >= 0.45),
        (a >= 0.75) & (s >= 0.30),
    )
    for index, region in reversed(list(enumerate(regions))):  # the first listed wins an overlap
        lobes[region] = index
    return lobes


def pick_site(points_lps: np.ndarray, low: np.ndarray, high: np.ndarray, pathology: str,
              rng: np.random.Generator) -> np.ndarray | None:
    """One of ``points_lps`` (n, 3), drawn by the pathology's site prior: a lobe by its weight
    (among the lobes holding a point), then a point of it uniformly; None when no point lies in
    a lobe the prior weighs. A pathology without a prior draws uniformly."""
    if len(points_lps) == 0:
        return None
    prior = SITE_PRIORS.get(pathology)
    if prior is None:
        return points_lps[rng.integers(len(points_lps))]
    lobes = lobe_of(points_lps, low, high)
    weights = np.array([prior.get(name, 0.0) if np.any(lobes == i) else 0.0 for i, name in enumerate(LOBES)])
    if weights.sum() == 0:
        return None
    lobe = rng.choice(len(LOBES), p=weights / weights.sum())
    inside = np.flatnonzero(lobes == lobe)
    return points_lps[inside[rng.integers(len(inside))]]
