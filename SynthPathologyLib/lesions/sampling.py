"""Random, plausible glioma requests: where adult gliomas grow (lobar white matter, by the site prior
of :mod:`SynthPathologyLib.lesions.sites`: frontal and temporal most often, away from the brain's
edge) with random size, orientation and composition."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..core.errors import LesionPlacementError
from ..core.image_io import voxel_points_lps
from ..pathologies import get_pathology
from .placement import generate_lesion
from .sites import pick_site
from .spec import Composition, LesionSpec

# Seeds need this much white-matter probability and are searched on a grid this coarse (mm).
SEED_WHITE_MATTER = 0.6
SEED_GRID_MM = 4.0
# Largest fraction of a sampled core allowed in CSF (CSF probability above CSF_LEVEL): gliomas grow
# in parenchyma, not in the ventricles or sulci.
MAX_CORE_IN_CSF = 0.05
CSF_LEVEL = 0.5


def random_lesion_spec(brain: np.ndarray, white_matter: np.ndarray, grid: sitk.Image, rng: np.random.Generator,
                       diameter_range_mm: tuple[float, float], exclude: np.ndarray | None = None,
                       pathology: str = "glioma") -> LesionSpec | None:
    """A random glioma spec seeded in lobar white matter (a lobe drawn by the pathology's site prior),
    or None if no seed has room for its core.

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
        irregularity=float(rng.uniform(0.5, 1.0)),
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
    if len(indices) == 0:
        return None
    # The head is taken as roughly aligned with the LPS axes (as BraTS and MNI images are).
    points = voxel_points_lps(grid, indices * step)
    brain_points = voxel_points_lps(grid, np.argwhere(mask) * step)
    low, high = brain_points.min(0), brain_points.max(0)
    lateral = np.abs(points[:, 0] - (low[0] + high[0]) / 2) >= diameters.max() / 2  # the core stays in one hemisphere
    site = pick_site(points[lateral], low, high, pathology, rng)
    if site is None:
        return None
    return LesionSpec(
        center_lps=tuple(float(v) for v in site),
        diameters_mm=tuple(float(d) for d in diameters),
        orientation_deg=tuple(float(a) for a in rng.uniform(0.0, 360.0, 3)),
        composition=composition,
        pathology=pathology,
        random_seed=int(rng.integers(2**31)),
    )


def shrinking_ranges(diameter_range_mm: tuple[float, float], rounds: int = 4) -> list[tuple[float, float]]:
    """Diameter ranges to try in turn when a lesion does not fit: the asked range, then ranges whose
    upper end steps down to its lower end (mm), e.g. (15, 40) -> (15, 40), (15, 31.7), (15, 23.3), (15, 15)."""
    low, high = diameter_range_mm
    if rounds < 2 or high <= low:
        return [(low, high)]
    return [(low, high - (high - low) * k / (rounds - 1)) for k in range(rounds)]


def core_fraction_in(label: np.ndarray, tissue: np.ndarray, core_values: tuple[int, ...]) -> float:
    """Fraction of the label's core voxels (``core_values``) where ``tissue`` (bool, same (z, y, x)
    shape; e.g. CSF) is true; 0 without a core."""
    core = np.isin(label, core_values)
    total = np.count_nonzero(core)
    return float(np.count_nonzero(core & tissue) / total) if total else 0.0


def draw_fitting_lesion(room: sitk.Image, white_matter: sitk.Image, csf: np.ndarray | None, rng: np.random.Generator,
                        diameter_range_mm: tuple[float, float], pathology: str = "glioma",
                        attempts: int = 6) -> tuple[LesionSpec, sitk.Image, tuple[float, float]]:
    """A random plausible lesion that fits: ``attempts`` draws (:func:`random_lesion_spec`) in the asked
    diameter range, then in ranges shrinking towards its lower end (:func:`shrinking_ranges`); a draw
    fits when :func:`generate_lesion` accepts it and at most ``MAX_CORE_IN_CSF`` of its core lies in
    ``csf``.

    Args:
        room: where the lesion may go (uint8 on the case's grid; the brain, less the existing lesions
            and their gap: :func:`~SynthPathologyLib.lesions.existing.lesion_free_brain`).
        white_matter: white-matter probability on the same grid.
        csf: bool (z, y, x) CSF, or None.

    Returns:
        The spec, its label map (uint8 on ``room``'s grid) and the diameter range it came from.

    Raises:
        LesionPlacementError: no draw fitted, even at the smallest size.
    """
    brain = sitk.GetArrayViewFromImage(room) > 0
    wm = sitk.GetArrayViewFromImage(white_matter)
    core_values = get_pathology(pathology).core_values
    for sizes in shrinking_ranges(diameter_range_mm):
        for _ in range(attempts):
            spec = random_lesion_spec(brain, wm, room, rng, sizes, pathology=pathology)
            if spec is None:
                continue
            try:
                label = generate_lesion(spec, room, room, white_matter)
            except LesionPlacementError:
                continue
            if csf is None or core_fraction_in(sitk.GetArrayViewFromImage(label), csf, core_values) <= MAX_CORE_IN_CSF:
                return spec, label, sizes
    low, high = diameter_range_mm
    raise LesionPlacementError(
        f"no room for a {low:g}-{high:g} mm lesion (nor a smaller one down to {low:g} mm) in lobar white matter, "
        "out of CSF and away from the existing lesions")
