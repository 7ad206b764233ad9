"""Brain phantom: labelled multi-contrast cases (T1, T1c, T2, FLAIR + the label of a registered
pathology: glioma, metastasis or multiple sclerosis), with or without lesions, from a skull-stripped
brain and its tissue maps (by default the MNI152 template).

Steps of :func:`make_phantom_case` (arrays are (z, y, x) on the brain's grid; positions LPS mm):

1. Anatomy: the tissue maps are warped by a smooth random deformation, a cubic B-spline
   displacement with control points every ``DEFORMATION_CONTROL_MM`` and components of standard
   deviation ``deformation_mm``, plus a global scaling of up to ``scaling_percent`` per axis about
   the brain's centre.
2. Lesions (unless ``healthy``): as many as ``lesion_count`` draws (default: the pathology's
   ``lesions_per_case``), each from the pathology's sampler (a glioma in lobar white matter, a
   metastasis at the grey-white junction, an MS plaque periventricular, juxtacortical, deep or
   infratentorial; :mod:`SynthPathologyLib.lesions.sampling`) away from the earlier ones; the
   label map comes from :func:`~SynthPathologyLib.lesions.placement.generate_lesion` on the
   deformed brain (edema follows its white matter). A lesion that cannot be placed, or lacks one of
   the pathology's ``phantom_labels``, is drawn again.
3. Mass effect (tumours, not MS plaques): tissue around each lesion is pushed radially away from its seed, by
   ``mass_effect_mm`` x (mean core diameter / 30 mm) at the core's mean radius R, decaying as
   (R / r)^2 beyond it and vanishing at 3 R. The brain's outline does not move (the skull does not
   yield), so tissue between tumor and skull is compressed.
4. Class fractions: tissue probabilities are partial-volume fractions; lesion regions (label
   one-hots blurred by ``LABEL_BLUR_MM``) replace tissue; a region's MR class is its name.
5. Signal: :mod:`SynthPathologyLib.phantom.mr_signal` per contrast, with a smooth random texture.
6. Scanner: a smooth bias field ``exp(bias_field x unit random field)`` per contrast, Rician noise
   of ``noise_percent`` % of the brightest tissue, a random gain, int16; 0 outside the brain
   (skull-stripped, as BraTS).

Random draws come from three independent streams of the case seed (anatomy, lesion, scanner), so
the healthy and tumor cases of one seed share anatomy, texture, bias field and noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..core.case import Case
from ..core.errors import LesionPlacementError, SynthPathologyError
from ..core.image_io import copy_geometry
from ..core.voxel_box import bounding_box
from ..lesions.placement import generate_lesion
from ..lesions.sampling import random_lesion_spec
from ..lesions.spec import LesionSpec
from ..pathologies import Pathology, get_pathology
from .default_brain import Brain, load_default_brain
from .mr_signal import (
    SEQUENCES,
    TISSUES,
    SmoothRandomField,
    add_rician_noise,
    blur_inside,
    class_signal,
    draw_appearance,
    synthesize,
)
from .tissue import TissueMaps

CONTRASTS = ("t1", "t1c", "t2", "flair")

DEFORMATION_CONTROL_MM = 40.0  # B-spline lattice of the anatomical deformation
TEXTURE_CONTROL_MM = 4.0  # lattice of the tissue texture (its grain)
BIAS_CONTROL_MM = 80.0  # lattice of the bias field (a few smooth bumps across the head)
LABEL_BLUR_MM = {"necrosis": 0.6, "enhancing": 0.6, "edema": 1.5, "lesion": 0.8}  # lesion borders' partial volume

LESION_ATTEMPTS = 20  # random lesions drawn before giving up (see lesions.sampling for where they go)
# Core diameters of phantom lesions (mm) where they differ from the pathology's sampling range: the
# glioma phantom's tumours are larger than those augment draws by default.
PHANTOM_DIAMETERS_MM = {"glioma": (20.0, 45.0)}
MASS_EFFECT_REFERENCE_MM = 30.0  # core diameter at which the surface displacement is mass_effect_mm
SCANNER_GAIN_RANGE = (0.8, 1.25)  # random gain around intensity_scale


@dataclass(frozen=True)
class PhantomOptions:
    """How phantom cases are made.

    Attributes:
        resolution_mm: isotropic voxel size (mm): 1 for realistic cases, 2 for fast tests.
        healthy: no tumor (empty label maps).
        deformation_mm: standard deviation of each component of the smooth random displacement (mm).
        scaling_percent: global scaling drawn uniformly in +-this per axis (%).
        mass_effect_mm: tissue displacement at the surface of a 30 mm tumor core (mm); scales with
            the core's diameter (space-occupying pathologies only).
        tumor_diameter_mm: range of the core's mean diameter (mm), or None for the pathology's
            (:data:`PHANTOM_DIAMETERS_MM`, else its ``diameter_range_mm``).
        bias_field: standard deviation of the log bias field (0.1: about +-10% intensity swings).
        noise_percent: Rician noise standard deviation, % of the brightest tissue's signal.
        intensity_scale: intensity of the brightest tissue before the random gain.
        appearance_spread: domain randomization: each case draws its classes' PD, T1 and T2
            with this log-normal spread, its bias, noise and blur (:func:`~.mr_signal.draw_appearance`);
            0 (default): the fixed literature values.
        pathology: registered pathology of the lesions.
        lesion_count: inclusive range of the number of lesions per case, or None for the
            pathology's ``lesions_per_case``.
    """

    resolution_mm: float = 1.0
    healthy: bool = False
    deformation_mm: float = 3.0
    scaling_percent: float = 6.0
    mass_effect_mm: float = 4.0
    tumor_diameter_mm: tuple[float, float] | None = None
    bias_field: float = 0.1
    noise_percent: float = 2.0
    intensity_scale: float = 1000.0
    appearance_spread: float = 0.0
    pathology: str = "glioma"
    lesion_count: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        info = get_pathology(self.pathology)  # refuses an unknown name
        if self.tumor_diameter_mm is None:
            object.__setattr__(self, "tumor_diameter_mm",
                               PHANTOM_DIAMETERS_MM.get(self.pathology, info.diameter_range_mm))
        if self.lesion_count is None:
            object.__setattr__(self, "lesion_count", info.lesions_per_case)
        checks = {
            "resolution_mm": self.resolution_mm > 0,
            "deformation_mm": self.deformation_mm >= 0,
            "scaling_percent": 0 <= self.scaling_percent < 50,
            "mass_effect_mm": self.mass_effect_mm >= 0,
            "tumor_diameter_mm": 0 < self.tumor_diameter_mm[0] <= self.tumor_diameter_mm[1],
            "bias_field": self.bias_field >= 0,
            "noise_percent": self.noise_percent >= 0,
            "intensity_scale": 0 < self.intensity_scale <= 10000,  # int16 headroom for bright lesions
            "appearance_spread": 0 <= self.appearance_spread <= 1,
            "lesion_count": 1 <= self.lesion_count[0] <= self.lesion_count[1],
        }
        bad = [f"{name}={getattr(self, name)}" for name, ok in checks.items() if not ok]
        if bad:
            raise SynthPathologyError(f"invalid phantom options: {', '.join(bad)}")


@dataclass
class PhantomCase:
    """One phantom case.

    Attributes:
        case: images "t1", "t1c", "t2", "flair" (int16, 0 outside the brain), label (uint8, the
            pathology's values, e.g. glioma 1 NCR / 2 ED / 3 ET; all 0 when healthy) and brain
            mask, on one grid.
        lesions: the lesions' specs (seed LPS mm, diameters, composition); empty when healthy.
        tissues: the case's anatomy: CSF / GM / WM fractions after deformation and mass effect,
            before the tumor replaces tissue.
        seed: the case seed.
    """

    case: Case
    lesions: tuple[LesionSpec, ...]
    tissues: TissueMaps
    seed: int

    @property
    def lesion(self) -> LesionSpec | None:
        """The first lesion's spec (a glioma case's only one), or None when healthy."""
        return self.lesions[0] if self.lesions else None


def make_phantom_case(
    seed: int, options: PhantomOptions = PhantomOptions(), brain: Brain | None = None, case_id: str = "Phantom"
) -> PhantomCase:
    """A phantom case; the same seed, options and brain give the same case.

    Args:
        seed: random seed (an int >= 0).
        options: how to make it.
        brain: the source anatomy; None for the MNI152 template. It is resampled to
            ``options.resolution_mm`` if its voxels differ.
        case_id: the case's id.
    """
    brain = source_brain(brain, options)
    anatomy_rng, lesion_rng, scanner_rng = np.random.default_rng(seed).spawn(3)
    anatomy = _deformed_anatomy(brain, options, anatomy_rng)
    pathology = get_pathology(options.pathology)
    label = np.zeros(anatomy.mask.shape, np.uint8)
    specs: tuple[LesionSpec, ...] = ()
    if not options.healthy:
        specs, label = _place_lesions(anatomy, brain, options, pathology, lesion_rng)
        if pathology.space_occupying:
            for spec in specs:
                _apply_mass_effect(anatomy, brain, spec, options)
    tissues = _tissue_maps(anatomy, brain.t1)
    images = _acquire(anatomy, label, brain, options, pathology, scanner_rng)
    case = Case(
        images,
        label=copy_geometry(anatomy.full(label), brain.t1),
        brain_mask=tissues.brain_mask,
        case_id=case_id,
        pathology=pathology.name,
    )
    return PhantomCase(case, specs, tissues, seed)


def source_brain(brain: Brain | None, options: PhantomOptions) -> Brain:
    """``brain`` (default: the MNI152 template) at the options' resolution."""
    return (brain if brain is not None else load_default_brain(options.resolution_mm)).at_resolution(options.resolution_mm)


@dataclass
class _Anatomy:
    """A deformed brain on the output grid, held on ``box``: the (z, y, x) slices of the grid
    that hold every brain voxel.

    Attributes:
        shape: the full grid's shape (z, y, x).
        box: see above.
        mask: bool brain mask on the box.
        gm, wm: float32 tissue probabilities on the box (0 outside the brain).
        source: the pull-back map on the box, float32 (3, z, y, x): for each output voxel, the
            continuous index of the source brain voxel it shows.
    """

    shape: tuple[int, int, int]
    box: tuple[slice, slice, slice]
    mask: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    source: np.ndarray

    @property
    def start(self) -> np.ndarray:
        return np.array([s.start for s in self.box])

    def full(self, array: np.ndarray) -> np.ndarray:
        """A box array pasted into a zero array of the full grid."""
        out = np.zeros(self.shape, array.dtype)
        out[self.box] = array
        return out


def _deformed_anatomy(brain: Brain, options: PhantomOptions, rng: np.random.Generator) -> _Anatomy:
    """Warp the brain's mask, GM and WM by a random smooth deformation and scaling."""
    source_mask = sitk.GetArrayViewFromImage(brain.tissues.brain_mask)
    spacing = np.asarray(brain.spacing_mm[::-1])  # z, y, x
    scaling = rng.uniform(-1, 1, 3) * options.scaling_percent / 100.0
    field = SmoothRandomField.draw(rng, source_mask.shape, tuple(DEFORMATION_CONTROL_MM / spacing), channels=3)

    # Output voxels beyond the brain's box grown by the largest plausible displacement stay empty.
    low, high = _bounds(source_mask)
    center = (low + high) / 2.0
    reach = 4.0 * options.deformation_mm / spacing + np.abs(scaling) * (high - low) / 2.0 + 2
    start = np.maximum(np.floor(low - reach), 0).astype(int)
    stop = np.minimum(np.ceil(high + reach) + 1, source_mask.shape).astype(int)
    box = tuple(slice(a, b) for a, b in zip(start, stop))
    axes = [np.arange(a, b, dtype=np.float32) for a, b in zip(start, stop)]

    source = field.on_grid(*axes)
    source *= (options.deformation_mm / spacing).astype(np.float32)[:, None, None, None]
    for k in range(3):  # voxel v pulls from center + (1 + s)(v - center): the brain shrinks by 1 + s
        source[k] += (center[k] + (1 + scaling[k]) * (axes[k] - center[k])).reshape([-1 if a == k else 1 for a in range(3)])
    mask = _pull(source_mask, source.reshape(3, -1)).reshape(source.shape[1:]) > 0.5
    at = source[:, mask]
    gm, wm = (np.zeros(mask.shape, np.float32) for _ in range(2))
    gm[mask] = _pull(sitk.GetArrayViewFromImage(brain.tissues.gm), at)
    wm[mask] = _pull(sitk.GetArrayViewFromImage(brain.tissues.wm), at)
    return _Anatomy(source_mask.shape, box, mask, gm, wm, source)


def _pull(volume: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """Trilinear values of ``volume`` (z, y, x) at continuous indices ``coordinates`` (3, n),
    float32; 0 outside."""
    return ndimage.map_coordinates(volume, coordinates, output=np.float32, order=1, mode="constant", cval=0.0)


def _bounds(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index (z, y, x) of the non-empty ``mask``'s bounding box."""
    box = bounding_box(mask)
    return np.array([s.start for s in box], float), np.array([s.stop - 1 for s in box], float)


def _box_grid(brain: Brain, anatomy: _Anatomy) -> sitk.Image:
    """An empty image with the geometry of the anatomy's box."""
    return sitk.RegionOfInterest(brain.tissues.brain_mask, [int(s.stop - s.start) for s in anatomy.box[::-1]],
                                 [int(s.start) for s in anatomy.box[::-1]])


def _place_lesions(
    anatomy: _Anatomy, brain: Brain, options: PhantomOptions, pathology: Pathology, rng: np.random.Generator
) -> tuple[tuple[LesionSpec, ...], np.ndarray]:
    """Random lesion specs and their label map (uint8 on the anatomy's box) in the deformed brain:
    a count drawn in ``options.lesion_count``, each away from the earlier ones.

    Each lesion is redrawn until it fits and holds the pathology's ``phantom_labels`` (small cores
    on coarse grids may have no room for necrosis); the first must be placed, a later one that
    cannot be is left out.
    """
    grid = _box_grid(brain, anatomy)
    mask_image = copy_geometry(anatomy.mask.astype(np.uint8), grid)
    wm_image = copy_geometry(anatomy.wm, grid)
    csf = np.clip(1.0 - anatomy.gm - anatomy.wm, 0.0, 1.0) * anatomy.mask
    low, high = options.lesion_count
    count = low if low == high else int(rng.integers(low, high + 1))  # no draw for one: glioma cases stay as they were
    label = np.zeros(anatomy.mask.shape, np.uint8)
    specs: list[LesionSpec] = []
    for _ in range(count):
        placed = _place_one(anatomy, grid, mask_image, wm_image, csf, label, options, pathology, rng)
        if placed is None:
            if not specs:
                raise SynthPathologyError(
                    f"could not place a {pathology.name} lesion of {options.tumor_diameter_mm} mm in {brain.name} "
                    f"after {LESION_ATTEMPTS} attempts; use smaller lesion diameters or a finer resolution")
            break
        spec, lesion = placed
        specs.append(spec)
        label = np.where(lesion > 0, lesion, label)
    return tuple(specs), label


def _place_one(anatomy: _Anatomy, grid: sitk.Image, mask_image: sitk.Image, wm_image: sitk.Image,
               csf: np.ndarray, existing: np.ndarray, options: PhantomOptions, pathology: Pathology,
               rng: np.random.Generator) -> tuple[LesionSpec, np.ndarray] | None:
    """One lesion away from ``existing`` (uint8 label on the anatomy's box), or None."""
    wanted = {0, *pathology.phantom_labels}
    exclude = existing > 0 if existing.any() else None
    for _ in range(LESION_ATTEMPTS):
        spec = random_lesion_spec(anatomy.mask, anatomy.wm, grid, rng, options.tumor_diameter_mm,
                                  exclude=exclude, pathology=pathology.name, csf=csf)
        if spec is None:
            continue
        try:
            label = sitk.GetArrayFromImage(generate_lesion(spec, grid, mask_image, wm_image))
        except LesionPlacementError:
            continue
        if set(np.unique(label)) >= wanted and not (exclude is not None and np.any(exclude & (label > 0))):
            return spec, label
    return None


def _apply_mass_effect(anatomy: _Anatomy, brain: Brain, spec: LesionSpec, options: PhantomOptions) -> None:
    """Push GM and WM radially away from the lesion seed, in place (see the module docstring)."""
    radius = float(np.mean(spec.diameters_mm)) / 2.0
    # Capped at half the radius so the radial map stays one-to-one (its slope inside is amplitude / R).
    amplitude = min(options.mass_effect_mm * 2.0 * radius / MASS_EFFECT_REFERENCE_MM, 0.5 * radius)
    if amplitude == 0:
        return
    spacing = np.asarray(brain.spacing_mm[::-1])
    center = np.asarray(brain.t1.TransformPhysicalPointToContinuousIndex(spec.center_lps))[::-1] - anatomy.start
    reach = 3.0 * radius
    start = np.maximum(np.floor(center - reach / spacing), 0).astype(int)
    stop = np.minimum(np.ceil(center + reach / spacing) + 1, anatomy.mask.shape).astype(int)
    region = tuple(slice(a, b) for a, b in zip(start, stop))
    index = np.argwhere(anatomy.mask[region]).T + start[:, None]  # (3, n) box indices
    offset_mm = (index - center[:, None]) * spacing[:, None]
    r = np.sqrt(np.sum(offset_mm**2, axis=0))
    near = r < reach
    index, offset_mm, r = index[:, near], offset_mm[:, near], r[near]

    rho = r / radius
    push = amplitude * np.where(rho < 1, rho, 1.0 / np.maximum(rho, 1e-6) ** 2)
    push *= np.where(rho <= 2, 1.0, np.cos(np.pi / 2 * (rho - 2)) ** 2)  # fades out between 2R and 3R
    origin = index - push * offset_mm / np.maximum(r, 1e-6) / spacing[:, None]  # where the tissue came from
    source = np.stack([_pull(component, origin) for component in anatomy.source])
    voxels = tuple(index)
    anatomy.gm[voxels] = _pull(sitk.GetArrayViewFromImage(brain.tissues.gm), source)
    anatomy.wm[voxels] = _pull(sitk.GetArrayViewFromImage(brain.tissues.wm), source)


def _tissue_maps(anatomy: _Anatomy, reference: sitk.Image) -> TissueMaps:
    """The anatomy's tissue maps on the full grid of ``reference``."""
    csf = np.where(anatomy.mask, np.clip(1.0 - anatomy.gm - anatomy.wm, 0.0, 1.0), 0.0).astype(np.float32)
    return TissueMaps(
        csf=copy_geometry(anatomy.full(csf), reference),
        gm=copy_geometry(anatomy.full(anatomy.gm), reference),
        wm=copy_geometry(anatomy.full(anatomy.wm), reference),
        brain_mask=copy_geometry(anatomy.full(anatomy.mask.astype(np.uint8)), reference),
    )


def _lesion_fractions(label: np.ndarray, mask: np.ndarray, spacing_zyx: np.ndarray,
                      pathology: Pathology) -> dict[str, np.ndarray]:
    """Fractions of each of the pathology's regions in the brain voxels (n,) of ``mask``, from the
    label's one-hots blurred by ``LABEL_BLUR_MM`` (partial volume at region borders); they sum to at
    most 1. ``label`` and ``mask`` are on one grid (z, y, x)."""
    n = int(np.count_nonzero(mask))
    fractions = {info.region: np.zeros(n, np.float32) for info in pathology.labels}
    if not label.any():
        return fractions
    region = bounding_box(label, pad_voxels=np.ceil(3 * max(LABEL_BLUR_MM.values()) / spacing_zyx))
    in_region = np.zeros(mask.shape, bool)
    in_region[region] = True
    where = in_region[mask]  # which brain voxels lie in the region
    for info in pathology.labels:
        one_hot = (label[region] == info.value).astype(np.float32)
        blurred = ndimage.gaussian_filter(one_hot, LABEL_BLUR_MM[info.region] / spacing_zyx)
        fractions[info.region][where] = blurred[mask[region]]
    total = np.maximum(sum(fractions.values()), 1.0)
    return {name: value / total for name, value in fractions.items()}


def _acquire(
    anatomy: _Anatomy, label: np.ndarray, brain: Brain, options: PhantomOptions, pathology: Pathology,
    rng: np.random.Generator,
) -> dict[str, sitk.Image]:
    """The four contrasts (int16 images on the brain's full grid) of the anatomy plus lesion
    (``label`` on the anatomy's box)."""
    mask = anatomy.mask
    spacing = np.asarray(brain.spacing_mm[::-1])
    lesion = _lesion_fractions(label, mask, spacing, pathology)
    tumor = sum(lesion.values())
    gm, wm = anatomy.gm[mask], anatomy.wm[mask]
    tissue = {"csf": np.clip(1.0 - gm - wm, 0.0, 1.0), "gm": gm, "wm": wm}
    fractions = {**{name: value * (1.0 - tumor) for name, value in tissue.items()}, **lesion}

    axes = [np.arange(s.start, s.stop, dtype=np.float32) for s in anatomy.box]
    texture = SmoothRandomField.draw(rng, anatomy.shape, tuple(TEXTURE_CONTROL_MM / spacing)).on_grid(*axes)[0][mask]
    look = draw_appearance(rng, options.appearance_spread, options.bias_field, options.noise_percent)
    images = {}
    for contrast in CONTRASTS:
        sequence = SEQUENCES[contrast]
        brightest = max(class_signal(look.parameters[name], sequence) for name in TISSUES)
        signal = synthesize(fractions, sequence, texture, look.parameters)
        signal = blur_inside(signal, mask, look.blur_voxels)  # the point-spread function, before noise
        bias = SmoothRandomField.draw(rng, anatomy.shape, tuple(BIAS_CONTROL_MM / spacing)).on_grid(*axes)[0][mask]
        signal *= np.exp(np.float32(look.bias_field) * bias)
        signal = add_rician_noise(signal, look.noise_percent / 100.0 * brightest, rng)
        gain = options.intensity_scale / brightest * rng.uniform(*SCANNER_GAIN_RANGE)
        volume = np.zeros(mask.shape, np.int16)
        # At least 1 inside the brain: the brain is exactly the non-zero voxels, as in BraTS.
        volume[mask] = np.clip(np.rint(signal * gain), 1, np.iinfo(np.int16).max)
        images[contrast] = copy_geometry(anatomy.full(volume), brain.t1)
    return images


DEFAULT_BRAIN_ID = "DefaultBrain"


def default_brain_phantom(resolution_mm: float = 1.0) -> PhantomCase:
    """The built-in default brain: the healthy phantom of case seed 0 (MNI152-based, T1, T1c, T2,
    FLAIR, int16, brain mask, empty label) at ``resolution_mm`` (1 or 2 mm), with its tissue maps."""
    options = PhantomOptions(resolution_mm=resolution_mm, healthy=True)
    return make_phantom_case(0, options, case_id=DEFAULT_BRAIN_ID)


def default_brain_case(resolution_mm: float = 1.0) -> Case:
    """The :class:`Case` of :func:`default_brain_phantom`."""
    return default_brain_phantom(resolution_mm).case
