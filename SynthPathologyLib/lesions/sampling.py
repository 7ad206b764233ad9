"""Random, plausible lesion requests, one sampler per pathology (named by its registry entry):

- glioma: lobar white matter, by the site prior of :mod:`SynthPathologyLib.lesions.sites`
  (frontal and temporal most often), away from the brain's edge; irregular cores, edema 5-25 mm.
- metastasis: the grey-white junction (white-matter probability between ``JUNCTION``'s bounds)
  for ``AT_JUNCTION`` of them, elsewhere in the parenchyma for the rest (haematogenous spread ends
  where the vessels narrow at the junction); round cores of log-uniform size, an edema extent of
  0.5-2 core diameters, enhancing.
- multiple sclerosis: ovoid plaques of log-uniform size, periventricular (long axis perpendicular
  to the ventricles' wall: Dawson's fingers), juxtacortical, deep and infratentorial white matter
  (:data:`MS_SITES`); one in ten enhancing.

Every sampler takes ``(brain, white_matter, grid, rng, diameter_range_mm, exclude=None, csf=None)``
(see :func:`random_glioma_spec`) and returns a :class:`LesionSpec` or None when no site has room.
"""

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
# Metastases: white-matter probability of the grey-white junction, and the share seeded there.
JUNCTION = (0.2, 0.8)
AT_JUNCTION = 0.75
# Multiple sclerosis: share of plaques by site; a periventricular plaque lies this far (mm) from
# the ventricles; ventricles are CSF at least VENTRICLE_DEPTH_MM inside the brain.
MS_SITES = {"periventricular": 0.5, "juxtacortical": 0.2, "deep": 0.2, "infratentorial": 0.1}
PERIVENTRICULAR_MM = (1.0, 8.0)
VENTRICLE_DEPTH_MM = 15.0
MS_ENHANCING = 0.1
JUXTACORTICAL_WHITE = (0.5, 0.85)
# Most lesions one request draws (a lesion load over this many plaques is rare even in severe MS).
MAX_LESIONS = 100


def random_lesion_spec(brain: np.ndarray, white_matter: np.ndarray, grid: sitk.Image, rng: np.random.Generator,
                       diameter_range_mm: tuple[float, float], exclude: np.ndarray | None = None,
                       pathology: str = "glioma", csf: np.ndarray | None = None) -> LesionSpec | None:
    """A random request for a lesion of ``pathology`` where it grows, by its registered sampler
    (arguments as :func:`random_glioma_spec`)."""
    return get_pathology(pathology).sample(brain, white_matter, grid, rng, diameter_range_mm, exclude=exclude, csf=csf)


def random_glioma_spec(brain: np.ndarray, white_matter: np.ndarray, grid: sitk.Image, rng: np.random.Generator,
                       diameter_range_mm: tuple[float, float], exclude: np.ndarray | None = None,
                       csf: np.ndarray | None = None) -> LesionSpec | None:
    """A random glioma spec seeded in lobar white matter (a lobe drawn by the pathology's site prior),
    or None if no seed has room for its core.

    Args:
        brain: brain mask, bool (z, y, x) on ``grid``.
        white_matter: white-matter probability in [0, 1], (z, y, x) on ``grid``.
        grid: image carrying the arrays' geometry (LPS mm).
        rng: random generator (all choices are drawn from it).
        diameter_range_mm: range of the core's mean diameter (mm); each axis varies +-20% around it.
        exclude: voxels the core must stay away from (e.g. an existing lesion), or None.
        csf: CSF probability (z, y, x) on ``grid``, or None (the samplers that need the ventricles
            estimate them from ``white_matter`` without it).
    """
    mean_diameter = rng.uniform(*diameter_range_mm)
    diameters = mean_diameter * rng.uniform(0.8, 1.2, 3)
    composition = Composition(
        edema_extent_mm=float(rng.uniform(5.0, 25.0)),
        necrosis_fraction=float(rng.uniform(0.15, 0.5)),
        rim_thickness_mm=float(rng.uniform(2.0, 4.5)),
        irregularity=float(rng.uniform(0.5, 1.0)),
    )
    seeds = _SeedGrid(brain, grid, diameters.max() / 2 + 2.0, exclude)
    allowed = seeds.allowed & (seeds.coarse(white_matter) > SEED_WHITE_MATTER)
    if not allowed.any():
        return None
    # The head is taken as roughly aligned with the LPS axes (as BraTS and MNI images are).
    points = seeds.points(allowed)
    low, high = seeds.brain_bounds()
    lateral = np.abs(points[:, 0] - (low[0] + high[0]) / 2) >= diameters.max() / 2  # the core stays in one hemisphere
    site = pick_site(points[lateral], low, high, "glioma", rng)
    if site is None:
        return None
    return _spec("glioma", site, diameters, tuple(rng.uniform(0.0, 360.0, 3)), composition, rng)


def random_metastasis_spec(brain: np.ndarray, white_matter: np.ndarray, grid: sitk.Image, rng: np.random.Generator,
                           diameter_range_mm: tuple[float, float], exclude: np.ndarray | None = None,
                           csf: np.ndarray | None = None) -> LesionSpec | None:
    """A random metastasis spec at the grey-white junction (or, less often, elsewhere in the
    parenchyma), or None if no seed has room (arguments as :func:`random_glioma_spec`)."""
    mean_diameter = _log_uniform(rng, diameter_range_mm)
    diameters = mean_diameter * rng.uniform(0.9, 1.1, 3)
    composition = Composition(
        edema_extent_mm=float(np.clip(mean_diameter * rng.uniform(0.5, 2.0), 1.0, 30.0)),
        necrosis_fraction=float(rng.uniform(0.2, 0.6)),
        rim_thickness_mm=float(rng.uniform(1.5, 3.0)),
        irregularity=float(rng.uniform(0.05, 0.3)),
        enhancing=True,
    )
    seeds = _SeedGrid(brain, grid, diameters.max() / 2 + 1.0, exclude)
    wm = seeds.coarse(white_matter)
    parenchyma = seeds.allowed & (wm > JUNCTION[0]) & _not_csf(seeds, csf)
    junction = parenchyma & (wm < JUNCTION[1])
    allowed = junction if junction.any() and rng.random() < AT_JUNCTION else parenchyma
    if not allowed.any():
        return None
    points = seeds.points(allowed)
    site = points[rng.integers(len(points))]
    return _spec("metastasis", site, diameters, tuple(rng.uniform(0.0, 360.0, 3)), composition, rng)


def random_ms_spec(brain: np.ndarray, white_matter: np.ndarray, grid: sitk.Image, rng: np.random.Generator,
                   diameter_range_mm: tuple[float, float], exclude: np.ndarray | None = None,
                   csf: np.ndarray | None = None) -> LesionSpec | None:
    """A random multiple-sclerosis plaque spec at a site drawn by :data:`MS_SITES`, or None if no
    seed has room (arguments as :func:`random_glioma_spec`). The plaque is an ovoid whose long
    (first) axis points away from the nearest ventricle wall at periventricular sites and is random
    elsewhere."""
    mean_diameter = _log_uniform(rng, diameter_range_mm)
    elongation = rng.uniform(1.3, 2.0)
    diameters = mean_diameter * np.array([elongation, 1.0, 1.0]) / elongation ** (1.0 / 3.0) * rng.uniform(0.9, 1.1, 3)
    composition = Composition.for_pathology("ms", irregularity=float(rng.uniform(0.1, 0.35)),
                                            enhancing=bool(rng.random() < MS_ENHANCING))
    seeds = _SeedGrid(brain, grid, 1.0, exclude, grid_mm=2.0)
    wm = seeds.coarse(white_matter)
    ventricles = _ventricles(seeds, wm, csf)
    to_ventricle = ndimage.distance_transform_edt(~ventricles, sampling=seeds.sampling)
    white = seeds.allowed & (wm > 0.5)
    low, high = seeds.brain_bounds()
    points_all = seeds.points(seeds.mask)
    s = np.zeros(seeds.mask.shape)
    s[seeds.mask] = (points_all[:, 2] - low[2]) / max(high[2] - low[2], 1e-6)
    sites = {
        "periventricular": white & (to_ventricle >= PERIVENTRICULAR_MM[0]) & (to_ventricle <= PERIVENTRICULAR_MM[1])
        if ventricles.any() else np.zeros_like(white),
        # White matter next to the cortex (on the white side of the junction: a plaque centred on
        # the junction itself would lie half in grey matter).
        "juxtacortical": seeds.allowed & (wm > JUXTACORTICAL_WHITE[0]) & (wm < JUXTACORTICAL_WHITE[1])
        & (seeds.depth < 15.0) & (s > 0.35),
        "deep": white & (to_ventricle > PERIVENTRICULAR_MM[1]) & (seeds.depth >= 15.0),
        "infratentorial": white & (s < 0.3),
    }
    names = [name for name in MS_SITES if sites[name].any()]
    if not names:
        return None
    weights = np.array([MS_SITES[name] for name in names])
    name = names[rng.choice(len(names), p=weights / weights.sum())]
    index = np.argwhere(sites[name])[rng.integers(np.count_nonzero(sites[name]))]
    site = seeds.points(index[None])[0]
    if name == "periventricular":
        orientation = _orientation_along(_gradient_at(to_ventricle, index, seeds), rng)
    else:
        orientation = tuple(rng.uniform(0.0, 360.0, 3))
    return _spec("ms", site, diameters, orientation, composition, rng)


class _SeedGrid:
    """Candidate seeds on a coarse grid (every ``step``-th voxel, about ``grid_mm`` apart) of the
    brain, at least ``room_mm`` inside it and from ``exclude``: arrays (z, y, x) on that grid."""

    def __init__(self, brain: np.ndarray, grid: sitk.Image, room_mm: float, exclude: np.ndarray | None,
                 grid_mm: float = SEED_GRID_MM) -> None:
        self.grid = grid
        self.step = max(int(round(grid_mm / min(grid.GetSpacing()))), 1)
        self.mask = self.coarse(brain).astype(bool)
        self.sampling = np.asarray(grid.GetSpacing()[::-1]) * self.step
        self.depth = ndimage.distance_transform_edt(self.mask, sampling=self.sampling)
        self.allowed = self.mask & (self.depth >= room_mm)
        if exclude is not None and exclude.any():
            self.allowed &= ndimage.distance_transform_edt(~self.coarse(exclude).astype(bool),
                                                           sampling=self.sampling) >= room_mm

    def coarse(self, array: np.ndarray) -> np.ndarray:
        return array[::self.step, ::self.step, ::self.step]

    def points(self, where: np.ndarray) -> np.ndarray:
        """LPS mm (n, 3) of coarse voxels: a bool mask, or (n, 3) coarse indices."""
        indices = np.argwhere(where) if where.dtype == bool else where
        return voxel_points_lps(self.grid, indices * self.step)

    def brain_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        points = self.points(self.mask)
        return points.min(0), points.max(0)


def _spec(pathology: str, site: np.ndarray, diameters: np.ndarray, orientation, composition: Composition,
          rng: np.random.Generator) -> LesionSpec:
    return LesionSpec(
        center_lps=tuple(float(v) for v in site),
        diameters_mm=tuple(float(d) for d in diameters),
        orientation_deg=tuple(float(a) for a in orientation),
        composition=composition,
        pathology=pathology,
        random_seed=int(rng.integers(2**31)),
    )


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Small lesions outnumber large ones: a size drawn uniformly in log scale."""
    low, high = bounds
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _not_csf(seeds: _SeedGrid, csf: np.ndarray | None) -> np.ndarray | bool:
    return True if csf is None else seeds.coarse(csf) <= CSF_LEVEL


def _ventricles(seeds: _SeedGrid, wm: np.ndarray, csf: np.ndarray | None) -> np.ndarray:
    """The ventricles on the coarse grid: CSF (or, without a CSF map, tissue that is barely white
    matter) deep inside the brain, where the sulci's CSF does not reach."""
    fluid = seeds.coarse(csf) > CSF_LEVEL if csf is not None else wm < 0.05
    deep = fluid & seeds.mask & (seeds.depth >= VENTRICLE_DEPTH_MM)
    # The deep ends of the interhemispheric and Sylvian fissures are deep fluid too, but small pieces
    # beside the ventricular system, which is one large body (lateral ventricles joined through the
    # third): keep the largest piece and those at least a third its size.
    pieces, count = ndimage.label(deep)
    if count <= 1:
        return deep
    sizes = np.bincount(pieces.ravel())[1:]
    return np.isin(pieces, 1 + np.flatnonzero(sizes >= sizes.max() / 3))


def _gradient_at(distance: np.ndarray, index: np.ndarray, seeds: _SeedGrid) -> np.ndarray:
    """Direction (LPS, unit) in which ``distance`` (coarse z, y, x) grows fastest at ``index``."""
    gradient_zyx = np.array([np.gradient(distance, axis=a)[tuple(index)] for a in range(3)]) / seeds.sampling
    matrix = np.asarray(seeds.grid.GetDirection()).reshape(3, 3)
    direction = matrix @ gradient_zyx[::-1]
    norm = np.linalg.norm(direction)
    return direction / norm if norm > 0 else np.array([1.0, 0.0, 0.0])


def _orientation_along(direction: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Rotation angles (degrees, :meth:`LesionSpec.rotation`'s convention) that turn the lesion's
    first axis to ``direction`` (LPS unit vector), with a random roll about it."""
    x, y, z = direction
    ay = -np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
    az = np.degrees(np.arctan2(y, x))
    return float(rng.uniform(0.0, 360.0)), float(ay), float(az)


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
            spec = random_lesion_spec(brain, wm, room, rng, sizes, pathology=pathology, csf=csf)
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
        f"no room for a {low:g}-{high:g} mm {pathology} lesion (nor a smaller one down to {low:g} mm) where it "
        "grows, out of CSF and away from the existing lesions")


def draw_fitting_lesions(room: sitk.Image, white_matter: sitk.Image, csf: np.ndarray | None, rng: np.random.Generator,
                         diameter_range_mm: tuple[float, float], pathology: str = "glioma", *, count: int = 1,
                         load_ml: float | None = None, gap_mm: float = 0.0,
                         ) -> list[tuple[LesionSpec, sitk.Image, tuple[float, float]]]:
    """Several random plausible lesions (:func:`draw_fitting_lesion` each), each ``gap_mm`` away from
    the ones before it: ``count`` of them, or with ``load_ml`` as many as it takes for their cores to
    reach that total volume (ml; the last one may pass it), at most :data:`MAX_LESIONS`.

    Returns (spec, label on ``room``'s grid, diameter range used) per lesion; a label was drawn in
    the room the lesions before it left, so inserting them in order reproduces it.

    Raises:
        LesionPlacementError: not even the first lesion fits.
    """
    from .existing import lesion_free_brain

    core_values = get_pathology(pathology).core_values
    drawn: list[tuple[LesionSpec, sitk.Image, tuple[float, float]]] = []
    total_ml = 0.0
    while len(drawn) < (MAX_LESIONS if load_ml is not None else count):
        if load_ml is not None and total_ml >= load_ml:
            break
        try:
            spec, label, sizes = draw_fitting_lesion(room, white_matter, csf, rng, diameter_range_mm, pathology)
        except LesionPlacementError:
            if not drawn:
                raise
            break  # the brain is full: keep what fitted
        drawn.append((spec, label, sizes))
        array = sitk.GetArrayViewFromImage(label)
        total_ml += np.count_nonzero(np.isin(array, core_values)) * float(np.prod(label.GetSpacing())) / 1000.0
        room = lesion_free_brain(room, label, gap_mm)
    return drawn
