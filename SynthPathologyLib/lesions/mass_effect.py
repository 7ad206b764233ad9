"""Mass effect: tissue pushed away from a new tumour by a smooth, invertible displacement field.

The field is radial about the tumour core's centroid c. With r the distance from c, r0 the radius
of the ball of the core's volume and M the asked displacement (mm), tissue is pushed outwards by

    m(r) = M r / r0                       for r <= r0 (inside the core, which is painted over anyway)
    m(r) = M (1 - 3 t^2 + 2 t^3)          for r0 < r < r0 + reach, t = (r - r0) / reach
    m(r) = 0                              beyond: the **reach**, ``reach_mm`` (default
                                          ``REACH_PER_MM`` x M, at least ``MIN_REACH_MM``)

so M mm at the core's edge, decaying smoothly (zero slope at the reach) to nothing. Images are
resampled backwards: the output at y takes the input at T(y) = y - m(r) (y - c) / r. T's Jacobian has
the eigenvalues 1 - m'(r) (radially) and 1 - m(r) / r (twice, tangentially); m' <= 0 outside the
core and m / r <= M / r0 everywhere, so its determinant is positive everywhere when M < r0: the
field is invertible, and M >= ``MAX_DISPLACEMENT_OF_RADIUS`` x r0 is refused. Voxels farther than
r0 + reach from c are copied, bit-identical; only the box holding the reach is resampled (contrasts
linearly, labels and masks with nearest neighbour). Reference: Prastawa et al. 2009 (TumorSim)
simulate mass effect (with a physical model); this is a kinematic stand-in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk

from ..core.case import Case
from ..core.errors import LesionPlacementError
from ..pathologies import get_pathology
from .placement import core_centroid_lps

REACH_PER_MM = 5.0
MIN_REACH_MM = 10.0
MAX_DISPLACEMENT_OF_RADIUS = 0.8


@dataclass(frozen=True)
class MassEffect:
    """A mass-effect field (see the module docstring), JSON-ready for provenance.

    Attributes:
        center_lps: the core centroid c (LPS mm).
        core_radius_mm: r0.
        displacement_mm: M, the push at the core's edge.
        reach_mm: beyond r0 + reach from c nothing moves.
    """

    center_lps: tuple[float, float, float]
    core_radius_mm: float
    displacement_mm: float
    reach_mm: float

    def to_dict(self) -> dict:
        return asdict(self)


def check_mass_effect(displacement_mm: float, pathology: str) -> None:
    """Refuse, in one line, a displacement < 0 or any mass effect for a pathology whose lesions do
    not occupy space (multiple sclerosis: see ``Pathology.space_occupying``)."""
    if displacement_mm < 0:
        raise LesionPlacementError(f"mass effect must be >= 0 mm, got {displacement_mm}")
    if displacement_mm > 0 and not get_pathology(pathology).space_occupying:
        raise LesionPlacementError(f"{get_pathology(pathology).display_name} lesions do not push the tissue "
                                   f"around them: no mass effect for pathology {pathology!r} (give 0 mm)")


def mass_effect_for(label: sitk.Image, displacement_mm: float, reach_mm: float | None = None,
                    pathology: str = "glioma") -> MassEffect:
    """The mass effect of the lesion ``label`` (its core) pushing ``displacement_mm`` at its edge.

    Raises:
        LesionPlacementError: a displacement < 0 (or > 0 for a pathology that does not occupy
            space), a reach <= 0, or a displacement too large for the core (>= ``MAX_DISPLACEMENT_OF_RADIUS`` x r0: the field would fold).
    """
    check_mass_effect(displacement_mm, pathology)
    reach = max(REACH_PER_MM * displacement_mm, MIN_REACH_MM) if reach_mm is None else reach_mm
    if reach <= 0:
        raise LesionPlacementError(f"mass-effect reach must be > 0 mm, got {reach}")
    core = np.isin(sitk.GetArrayViewFromImage(label), get_pathology(pathology).core_values)
    radius = (3 * np.count_nonzero(core) * float(np.prod(label.GetSpacing())) / (4 * np.pi)) ** (1 / 3)
    if displacement_mm >= MAX_DISPLACEMENT_OF_RADIUS * radius:
        raise LesionPlacementError(
            f"a mass effect of {displacement_mm:g} mm is too large for a core of radius {radius:.1f} mm "
            f"(at most {MAX_DISPLACEMENT_OF_RADIUS:g} x the radius, or the tissue would fold)")
    center = tuple(float(v) for v in core_centroid_lps(label, pathology))
    return MassEffect(center, round(float(radius), 3), float(displacement_mm), float(reach))


def displacement_field(effect: MassEffect, grid: sitk.Image) -> np.ndarray:
    """The backward displacement T(y) - y on ``grid``'s voxels, float64 (z, y, x, 3) in LPS mm."""
    size = np.asarray(grid.GetSize())
    index = np.stack(np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")[::-1], axis=-1)
    direction = np.reshape(grid.GetDirection(), (3, 3))
    points = np.asarray(grid.GetOrigin()) + (index * np.asarray(grid.GetSpacing())) @ direction.T
    offset = points - np.asarray(effect.center_lps)
    r = np.linalg.norm(offset, axis=-1)
    r0, push = effect.core_radius_mm, effect.displacement_mm
    t = np.clip((r - r0) / effect.reach_mm, 0.0, 1.0)
    m = np.where(r <= r0, push * r / r0, push * (1 - 3 * t**2 + 2 * t**3))
    return -(m / np.maximum(r, 1e-9))[..., None] * offset


def apply_mass_effect(case: Case, effect: MassEffect) -> Case:
    """``case`` with every contrast, its label and brain mask warped by ``effect`` (same grids and
    pixel types); voxels beyond the reach are the input's, bit-identical."""
    reference = case.reference
    box = _reach_box(effect, reference)
    if any(cut.stop <= cut.start for cut in box):
        return case
    start = [int(cut.start) for cut in box[::-1]]
    crop = sitk.RegionOfInterest(reference, [int(cut.stop - cut.start) for cut in box[::-1]], start)
    field = displacement_field(effect, crop)
    moved = np.any(field != 0, axis=-1)
    field_image = sitk.GetImageFromArray(field, isVector=True)
    field_image.CopyInformation(crop)
    transform = sitk.DisplacementFieldTransform(sitk.Cast(field_image, sitk.sitkVectorFloat64))

    def warp(image: sitk.Image | None, is_label: bool) -> sitk.Image | None:
        if image is None:
            return None
        interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
        resampled = sitk.Resample(image, crop, transform, interpolator, 0.0, image.GetPixelID())
        array = sitk.GetArrayFromImage(image)
        array[box][moved] = sitk.GetArrayViewFromImage(resampled)[moved]
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(image)
        return out

    return Case({c: warp(image, False) for c, image in case.images.items()}, label=warp(case.label, True),
                brain_mask=warp(case.brain_mask, True), case_id=case.case_id, pathology=case.pathology,
                sources=dict(case.sources))


def warp_map(image: sitk.Image, effect: MassEffect) -> sitk.Image:
    """A map on the case's grid (e.g. white-matter probability) warped like the contrasts."""
    return apply_mass_effect(Case({"map": image}), effect).images["map"]


def _reach_box(effect: MassEffect, reference: sitk.Image) -> tuple[slice, ...]:
    """(z, y, x) slices of ``reference``'s grid holding the ball r <= r0 + reach about c."""
    radius = effect.core_radius_mm + effect.reach_mm
    index = np.asarray(reference.TransformPhysicalPointToContinuousIndex(effect.center_lps))
    half = radius / np.asarray(reference.GetSpacing()) + 1
    low = np.clip(np.floor(index - half), 0, reference.GetSize()).astype(int)
    high = np.clip(np.ceil(index + half) + 1, 0, reference.GetSize()).astype(int)
    return tuple(slice(lo, hi) for lo, hi in zip(low[::-1], high[::-1]))
