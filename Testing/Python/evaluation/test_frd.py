"""Fréchet Radiomics Distance against the ``frd-score`` package's own computation, and lesion crops."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
import SimpleITK as sitk
from frd_score.frd import compute_frd

from SynthPathologyLib.evaluation.errors import EvaluationError
from SynthPathologyLib.evaluation.frd import frd_with_baseline, frechet_radiomics_distance
from SynthPathologyLib.evaluation.radiomic_features import crop_features, feature_extractor, lesion_slices


def textured_crops(seed: int, count: int, contrast: float) -> list[tuple[sitk.Image, sitk.Image]]:
    """``count`` 2D 20x24 crops: a blob of relative ``contrast`` on noisy tissue, ROI all but a corner."""
    rng = np.random.default_rng(seed)
    y, x = np.indices((20, 24))
    crops = []
    for _ in range(count):
        blob = np.exp(-((x - rng.uniform(8, 16)) ** 2 + (y - rng.uniform(6, 14)) ** 2) / 20)
        array = 300 * (1 + contrast * blob) + rng.normal(0, 15, (20, 24))
        mask = np.ones((20, 24), np.uint8)
        mask[:2, :2] = 0
        crops.append((sitk.GetImageFromArray(array.astype(np.float32)), sitk.GetImageFromArray(mask)))
    return crops


@pytest.fixture(scope="module")
def extractor():
    return feature_extractor()


def test_distance_equals_the_packages_compute_frd_on_the_same_files(tmp_path, extractor):
    sets = [textured_crops(0, 3, 0.5), textured_crops(1, 3, 1.5)]
    files, masks = [[], []], [[], []]
    for index, crops in enumerate(sets):
        for k, (image, mask) in enumerate(crops):
            files[index].append(str(tmp_path / f"set{index}-{k}-image.nii.gz"))
            masks[index].append(str(tmp_path / f"set{index}-{k}-mask.nii.gz"))
            sitk.WriteImage(image, files[index][-1])
            sitk.WriteImage(mask, masks[index][-1])
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints its figure
        official = compute_frd(files, paths_masks=masks, num_workers=1)
    features = [crop_features(crops, extractor)[0] for crops in sets]
    assert features[0].shape[0] == 3 and features[0].shape[1] > 300  # FRD v1: ~400 2D features
    assert frechet_radiomics_distance(*features) == pytest.approx(official, rel=1e-6)


def test_distance_grows_with_the_difference():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(30, 6))
    near = reference + rng.normal(0, 0.1, (30, 6))
    far = reference * 2 + 3
    distances = [frechet_radiomics_distance(reference, other) for other in (reference, near, far)]
    assert distances == sorted(distances) and distances[0] < -10


def test_distance_by_hand_for_one_feature():
    """1 feature: z-scored against the reference (population sd), d² = (Δμ)² + (σ1 - σ2)² (sample variances)."""
    reference, other = np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([[2.0], [4.0], [6.0]])
    z = lambda v: (v - reference.mean()) / reference.std()  # noqa: E731
    a, b = z(reference[:, 0]), z(other[:, 0])
    squared = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_radiomics_distance(reference, other) == pytest.approx(math.log(squared), rel=1e-5)


def test_baseline_keeps_patients_together_and_refuses_too_few():
    rng = np.random.default_rng(1)
    real = {f"P{i}": rng.normal(size=(4, 5)) for i in range(4)}
    close = [(f"P{i}", rng.normal(size=(4, 5))) for i in range(3)]
    shifted = [(f"P{i}", rng.normal(3, 1, size=(4, 5))) for i in range(3)]
    near, far = frd_with_baseline(real, close, splits=4), frd_with_baseline(real, shifted, splits=4)
    assert near["n"]["patients_per_set"] == 2 and np.isfinite(near["baseline"])
    assert far["synthetic"] > near["synthetic"] and far["baseline"] == near["baseline"]
    with pytest.raises(EvaluationError, match="at least 2 real patients"):
        frd_with_baseline({"P0": real["P0"]}, close)


def test_synthetic_set_is_painted_into_the_other_half():
    """A repaint of patient A is nearly A: comparing A with it would flatter the generator."""
    rng = np.random.default_rng(2)
    real = {"A": rng.normal(size=(6, 4)), "B": rng.normal(2, 1, size=(6, 4))}
    repaints = [(patient, features + rng.normal(0, 0.01, features.shape)) for patient, features in real.items()]
    result = frd_with_baseline(real, repaints, splits=6)
    assert result["synthetic"] == pytest.approx(result["baseline"], abs=0.05)  # repaint of B vs A, as B vs A


def test_lesion_slices_cover_the_lesion_with_a_margin():
    shape = (12, 40, 50)
    label = np.zeros(shape, np.uint8)
    label[3:9, 15:21, 20:28] = 2
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 5, shape).astype(np.float32))
    image.SetSpacing((2.0, 2.0, 2.0))
    masks = [sitk.GetImageFromArray(a) for a in (label, np.ones(shape, np.uint8))]
    for mask in masks:
        mask.CopyInformation(image)
    crops = lesion_slices(image, *masks, slices=4, margin_mm=10.0)
    assert len(crops) == 4
    assert crops[0][0].GetSize() == (8 + 2 * 5, 6 + 2 * 5) and crops[0][0].GetSpacing() == (2.0, 2.0)
    empty = sitk.Image(masks[0])
    empty *= 0
    assert lesion_slices(image, empty, masks[1]) == []
