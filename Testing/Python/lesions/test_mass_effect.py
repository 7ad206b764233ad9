"""Mass effect: a smooth, invertible field pushing tissue away from the tumour, nothing beyond its reach."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.errors import LesionPlacementError
from SynthPathologyLib.core.image_io import copy_geometry
from SynthPathologyLib.lesions.mass_effect import apply_mass_effect, displacement_field, mass_effect_for

SIZE = 64


def _grid() -> sitk.Image:
    grid = sitk.Image([SIZE] * 3, sitk.sitkUInt8)
    grid.SetSpacing((1.0, 1.2, 1.1))
    grid.SetOrigin((-30.0, -35.0, -30.0))
    return grid


def _distance_mm(grid: sitk.Image, center) -> np.ndarray:
    z, y, x = np.meshgrid(*[np.arange(n) for n in grid.GetSize()[::-1]], indexing="ij")
    points = np.asarray(grid.GetOrigin()) + np.stack([x, y, z], -1) * np.asarray(grid.GetSpacing())
    return np.linalg.norm(points - np.asarray(center), axis=-1)


@pytest.fixture
def case():
    grid = _grid()
    center = grid.TransformContinuousIndexToPhysicalPoint([SIZE / 2 - 3] * 3)
    distance = _distance_mm(grid, center)
    label = np.where(distance <= 9.0, 3, np.where(distance <= 12.0, 2, 0)).astype(np.uint8)
    rng = np.random.default_rng(0)
    t1 = (1000 + 300 * np.sin(distance / 2.5) + rng.normal(0, 5, distance.shape)).astype(np.int16)
    blob = (np.abs(distance - 15.0) < 1.0).astype(np.uint8)  # a shell of tissue just outside the lesion
    return Case({"t1": copy_geometry(t1, grid), "flair": copy_geometry(blob, grid)},
                label=copy_geometry(label, grid), case_id="M"), center


@pytest.mark.parametrize("push_mm", [2.0, 6.5])
def test_the_field_is_invertible_everywhere(case, push_mm):
    image_case, _ = case
    effect = mass_effect_for(image_case.label, push_mm)
    field = sitk.GetImageFromArray(displacement_field(effect, _grid()), isVector=True)
    field.CopyInformation(_grid())
    jacobian = sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(field))
    assert jacobian.min() > 0


def test_tissue_near_the_lesion_moves_out_and_nothing_beyond_the_reach(case):
    image_case, center = case
    effect = mass_effect_for(image_case.label, 3.0)
    warped = apply_mass_effect(image_case, effect)
    distance = _distance_mm(_grid(), effect.center_lps)
    beyond = distance > effect.core_radius_mm + effect.reach_mm
    for key in ("t1", "flair"):
        before, after = (sitk.GetArrayViewFromImage(c.images[key]) for c in (image_case, warped))
        assert after.dtype == before.dtype and np.array_equal(after[beyond], before[beyond])
    shell_before = distance[sitk.GetArrayViewFromImage(image_case.images["flair"]) > 0].mean()
    shell_after = distance[sitk.GetArrayViewFromImage(warped.images["flair"]) > 0].mean()
    assert 1.0 < shell_after - shell_before <= 3.0  # pushed outwards, by at most the push at the edge
    # The label is warped with the contrasts: the edema ring moves out as well.
    assert np.count_nonzero(sitk.GetArrayViewFromImage(warped.label) == 2) > 0
    assert distance[sitk.GetArrayViewFromImage(warped.label) == 2].max() > distance[
        sitk.GetArrayViewFromImage(image_case.label) == 2].max()


def test_a_push_that_would_fold_the_tissue_is_refused(case):
    image_case, _ = case
    with pytest.raises(LesionPlacementError, match="too large for a core"):
        mass_effect_for(image_case.label, 8.0)
