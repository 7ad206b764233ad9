"""Tissue maps: the default (MNI152) brain, estimation from any T1, and loading a user's brain."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.errors import GridMismatchError, ImageFileError
from SynthPathologyLib.core.image_io import write_image
from SynthPathologyLib.phantom.default_brain import load_brain, load_default_brain
from SynthPathologyLib.phantom.tissue import TISSUE_CLASSES, TissueMaps, estimate_tissue_maps


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def assert_valid_maps(maps: TissueMaps) -> None:
    """Probabilities in [0, 1], summing to 1 in the brain and 0 outside it."""
    inside = sitk.GetArrayViewFromImage(maps.brain_mask) != 0
    total = sum(maps.arrays().values())
    for array in maps.arrays().values():
        assert array.dtype == np.float32 and array.min() >= 0 and array.max() <= 1
    np.testing.assert_allclose(total[inside], 1.0, atol=1e-5)
    assert np.all(total[~inside] == 0)


@pytest.mark.parametrize("resolution_mm", [1.0, 2.0])
def test_default_brain_is_the_mni_template_with_valid_tissue_maps(resolution_mm):
    brain = load_default_brain(resolution_mm)
    assert brain.t1.GetSpacing() == pytest.approx((resolution_mm,) * 3)
    # The template's direction and field of view (197 x 233 x 189 mm) are kept.
    assert brain.t1.GetDirection() == pytest.approx((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    assert np.asarray(brain.t1.GetSize()) * resolution_mm == pytest.approx((197, 233, 189), abs=resolution_mm)
    assert_valid_maps(brain.tissues)
    volume_ml = np.count_nonzero(sitk.GetArrayViewFromImage(brain.tissues.brain_mask)) * resolution_mm**3 / 1000
    assert volume_ml == pytest.approx(1886, rel=0.02)
    assert load_default_brain(resolution_mm) is brain  # cached


def test_estimated_tissue_maps_agree_with_the_mni_maps():
    brain = load_default_brain(2.0)
    estimated = estimate_tissue_maps(brain.t1, brain.tissues.brain_mask)
    assert_valid_maps(estimated)
    reference, found = brain.tissues.labels(), estimated.labels()
    for value, name in enumerate(TISSUE_CLASSES, start=1):
        assert dice(reference == value, found == value) > 0.7, name
    # Classes come out in T1 order: CSF darkest, WM brightest.
    t1 = sitk.GetArrayViewFromImage(brain.t1)
    means = [t1[found == value].mean() for value in (1, 2, 3)]
    assert means == sorted(means)


def test_estimation_recovers_three_known_classes():
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 4, (20, 30, 40))
    t1 = np.choose(truth - 1, [30.0, 80.0, 120.0]) + rng.normal(0, 5, truth.shape)
    image = sitk.GetImageFromArray(t1.astype(np.float32))
    mask = sitk.GetImageFromArray(np.ones(truth.shape, np.uint8))
    found = estimate_tissue_maps(image, mask).labels()
    assert np.mean(found == truth) > 0.99


def test_load_brain_estimates_tissue_from_any_t1(tmp_path):
    brain = load_default_brain(2.0)
    t1_path = write_image(sitk.Cast(brain.t1 * 3.0, sitk.sitkInt16), tmp_path / "t1.nii.gz")
    mask_path = write_image(brain.tissues.brain_mask, tmp_path / "mask.nrrd")
    loaded = load_brain(t1_path, mask_path)
    assert_valid_maps(loaded.tissues)
    assert dice(loaded.tissues.labels() == 3, brain.tissues.labels() == 3) > 0.7


def test_load_brain_refuses_bad_files(tmp_path):
    brain = load_default_brain(2.0)
    mask_path = write_image(brain.tissues.brain_mask, tmp_path / "mask.nii.gz")
    corrupt = tmp_path / "t1.nii.gz"
    corrupt.write_bytes(b"not an image")
    with pytest.raises(ImageFileError, match="t1.nii.gz"):
        load_brain(corrupt, mask_path)
    with pytest.raises(ImageFileError, match="no such file"):
        load_brain(tmp_path / "missing.nii.gz", mask_path)
    other_grid = write_image(load_default_brain(1.0).tissues.brain_mask, tmp_path / "mask1mm.nii.gz")
    t1_path = write_image(brain.t1, tmp_path / "t1_ok.nii.gz")
    with pytest.raises(GridMismatchError):
        load_brain(t1_path, other_grid)
