"""Random, plausible glioma requests: where adult gliomas grow (deep hemispheric white matter,
away from the brain's edge) with random size, orientation and composition."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .spec import Composition, LesionSpec

# Seeds need this much white-matter probability, must lie in the upper part of the brain
# (fraction of its height, from the bottom) and are searched on a grid this coarse (mm).
SEED_WHITE_MATTER = 0.6
SEED_LOWEST_HEIGHT = 0.4
SEED_GRID_MM = 4.0


def random_lesion_spec(brain: np.ndarray, white_matter: np.ndarray, grid: sitk.Image, rng: np.random.Generator,
                       diameter_range_mm: tuple[float, float], exclude: np.ndarray | None = None,
                       pathology: str = "glioma") -> LesionSpec | None:
    """A random glioma spec seeded in deep white matter, or None if no seed has room for its core.

    Args:
        brain: brain mask, bool (z, y, x) on ``grid``.
        white_matter: white-matter probability in [0, 1], (z, y, x) on ``grid``.
        grid: image carrying the arrays' geometry (LPS mm).
        rng: random generator (all choices are drawn from it).
        diameter_range_mm: range of the core's mean diameter (mm); each axis varies +-20% around it.
        exclude: voxels the core must stay away from (e.g. an existing lesion), or None.
    """
    mean_diameter = rng.uniform(*diameter_range_mm)
    diameters = mean_diameter * rng.uniform(0.8, 1.2, 3)
    composition = Composition(
        edema_extent_mm=float(rng.uniform(5.0, 25.0)),
        necrosis_fraction=float(rng.uniform(0.15, 0.5)),
        rim_thickness_mm=float(rng.uniform(2.0, 4.5)),
        irregularity=float(rng.uniform(0.2, 0.6)),
    )
    step = max(int(round(SEED_GRID_MM / min(grid.GetSpacing()))), 1)
    mask = brain[::step, ::step, ::step].astype(bool)
    sampling = np.asarray(grid.GetSpacing()[::-1]) * step
    room = diameters.max() / 2 + 2.0
    allowed = mask & (white_matter[::step, ::step, ::step] > SEED_WHITE_MATTER)
    allowed &= ndimage.distance_transform_edt(mask, sampling=sampling) >= room
    if exclude is not None and exclude.any():
        allowed &= ndimage.distance_transform_edt(~exclude[::step, ::step, ::step].astype(bool), sampling=sampling) >= room
    indices = np.argwhere(allowed)
    # The head is taken as roughly aligned with the LPS axes (as BraTS and MNI images are).
    points = _physical_points(grid, indices * step)
    brain_points = _physical_points(grid, np.argwhere(mask) * step)
    low, high = brain_points.min(0), brain_points.max(0)
    upper = points[:, 2] >= low[2] + SEED_LOWEST_HEIGHT * (high[2] - low[2])
    lateral = np.abs(points[:, 0] - (low[0] + high[0]) / 2) >= diameters.max() / 2  # the core stays in one hemisphere
    candidates = points[upper & lateral]
    if len(candidates) == 0:
        return None
    return LesionSpec(
        center_lps=tuple(float(v) for v in candidates[rng.integers(len(candidates))]),
        diameters_mm=tuple(float(d) for d in diameters),
        orientation_deg=tuple(float(a) for a in rng.uniform(0.0, 360.0, 3)),
        composition=composition,
        pathology=pathology,
        random_seed=int(rng.integers(2**31)),
    )


def _physical_points(image: sitk.Image, indices_zyx: np.ndarray) -> np.ndarray:
    """LPS mm of voxel indices (N, 3) given as (z, y, x)."""
    spacing = np.asarray(image.GetSpacing())
    direction = np.reshape(image.GetDirection(), (3, 3))
    return np.asarray(image.GetOrigin()) + (indices_zyx[:, ::-1] * spacing) @ direction.T
