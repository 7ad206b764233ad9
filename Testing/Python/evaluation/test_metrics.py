"""Every evaluation metric against a value computed by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from SynthPathologyLib.evaluation.distribution import distribution_metrics, fid, kid, mmd_linear, precision_recall
from SynthPathologyLib.evaluation.diversity import WEIGHTS, variant_ms_ssim
from SynthPathologyLib.evaluation.errors import EvaluationError
from SynthPathologyLib.evaluation.overlap import evaluation_regions, overlap_scores
from SynthPathologyLib.evaluation.paired import paired_metrics
from SynthPathologyLib.evaluation.segmenter import regions_to_label
from SynthPathologyLib.evaluation.statistics import mean_ci, paired_gain

GLIOMA = evaluation_regions("glioma")


def test_glioma_regions_are_the_brats_ones():
    assert GLIOMA == {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,)}


def test_region_channels_turn_back_into_labels():
    label = np.array([0, 1, 2, 3], np.uint8).reshape(1, 1, 4)
    regions = np.stack([np.isin(label, v) for v in GLIOMA.values()])
    assert np.array_equal(regions_to_label(regions, GLIOMA), label)


def test_dice_and_hd95_per_region():
    truth = np.zeros((10, 4, 4), np.uint8)
    prediction = np.zeros_like(truth)
    truth[1, 1, 1] = 3            # one ET voxel
    prediction[4, 1, 1] = 3       # predicted 3 voxels away along z
    truth[1, 2, 1] = truth[1, 2, 2] = 2
    prediction[1, 2, 1] = 2       # one of the two ED voxels found
    scores = overlap_scores(prediction, truth, spacing_xyz=(1.0, 1.0, 2.0), regions=GLIOMA)
    # WT: truth 3 voxels, prediction 2, overlap 1 -> 2 * 1 / 5.
    assert scores["WT"]["dice"] == pytest.approx(0.4)
    assert scores["ET"]["dice"] == 0.0
    assert scores["ET"]["hd95_mm"] == pytest.approx(6.0)  # 3 voxels of 2 mm along z


def test_empty_regions_follow_the_brats_conventions():
    truth = np.zeros((6, 6, 6), np.uint8)
    truth[2, 2, 2] = 2            # edema only: no core, no enhancing tumor
    scores = overlap_scores(np.zeros_like(truth), truth, (1.0, 1.0, 1.0), GLIOMA)
    assert scores["ET"] == {"dice": 1.0, "hd95_mm": 0.0}          # both empty
    assert scores["WT"]["dice"] == 0.0                              # missed lesion
    assert scores["WT"]["hd95_mm"] == pytest.approx(math.sqrt(3 * 36))  # the volume's diagonal


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> np.ndarray:
    taps = np.exp(-0.5 * ((np.arange(size) - size // 2) / sigma) ** 2)
    taps /= taps.sum()
    return taps[:, None, None] * taps[None, :, None] * taps[None, None, :]


def test_paired_metrics_inside_the_lesion():
    rng = np.random.default_rng(0)
    real = rng.uniform(0.2, 0.8, (2, 7, 7, 7)).astype(np.float32)
    label = np.zeros((7, 7, 7), np.uint8)
    label[3, 3, 3], label[3, 3, 4] = 1, 2
    synthetic = real.copy()
    synthetic[:, label > 0] += 0.1
    synthetic[:, 0, 0, 0] = 5.0   # outside the lesion: must not count in PSNR or MAE
    metrics = paired_metrics(real, synthetic, label, ["t1", "flair"], {1: "NCR", 2: "ED", 3: "ET"})
    assert metrics["mae_all"] == pytest.approx(0.1, abs=1e-6)
    assert metrics["mae_NCR_all"] == pytest.approx(0.1, abs=1e-6)
    assert "mae_ET_all" not in metrics
    assert metrics["psnr_t1"] == pytest.approx(10 * math.log10(1 / 0.01), abs=1e-3)  # 20 dB
    # SSIM on the 7^3 box around the lesion: one Gaussian window (sigma 1.5), MONAI's constants.
    w = _gaussian_window()
    x, y = synthetic[0].astype(np.float64), real[0].astype(np.float64)
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy, cxy = (w * x * x).sum() - mx**2, (w * y * y).sum() - my**2, (w * x * y).sum() - mx * my
    c1, c2 = 0.01**2, 0.03**2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert metrics["ssim_t1"] == pytest.approx(expected, rel=1e-4)


def test_fid_of_a_scaled_and_shifted_set():
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    y = 2 * x + np.array([3.0, 0.0])
    # |mu_x - mu_y|^2 + tr(S + 4S - 2 * 2S) = 9 + tr(S), S = diag(2/3, 2/3) (unbiased covariance)
    assert fid(x, y) == pytest.approx(9 + 4 / 3, rel=1e-6)


def test_kid_and_linear_mmd():
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    # k = (a b + 1)^3: within x 1, within y 343, across (1 + 1 + 27 + 64) / 4
    assert kid(x, y) == pytest.approx(1 + 343 - 2 * 93 / 4)
    # linear kernel: within x 0, within y 6, across (0 + 0 + 2 + 3) / 4
    assert mmd_linear(x, y) == pytest.approx(0 + 6 - 2 * 5 / 4)


def test_precision_and_recall_on_a_line():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])   # 3rd-neighbour radii 3, 2, 2, 3
    fake = np.array([[10.0], [1.5], [0.5], [100.0]])
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 0.5   # 1.5 and 0.5 lie inside the real manifold
    assert recall == 1.0      # the fake manifold's radii (90+) cover every real point


def test_distribution_baseline_and_refusal():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(12, 3))
    summary = distribution_metrics(real, real[:6] + 5.0, splits=3)
    assert summary["n"] == {"per_set": 6, "splits": 3}
    assert summary["fid"]["synthetic"] > 10 * summary["fid"]["baseline"]  # shifted by 5 in each of 3 dims
    with pytest.raises(EvaluationError, match="at least 4 real and 2 synthetic"):
        distribution_metrics(real[:3], real[:3])


def test_ms_ssim_of_constant_variants():
    shape = (1, 24, 24, 24)
    a, b = np.full(shape, 0.5, np.float32), np.full(shape, 0.6, np.float32)
    region = np.ones(shape[1:], bool)
    # Flat images: every contrast term is 1, so MS-SSIM is the luminance term to the last weight.
    c1 = 0.01**2
    luminance = (2 * 0.5 * 0.6 + c1) / (0.5**2 + 0.6**2 + c1)
    # MONAI computes in float32: variances of flat images come out at about 1e-8, not 0.
    assert variant_ms_ssim([a, b], region) == pytest.approx(luminance ** WEIGHTS[-1], rel=1e-3)
    assert variant_ms_ssim([a, a, a], region) == pytest.approx(1.0)


def test_mean_ci_and_paired_gain():
    stats = mean_ci(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert stats["mean"] == 2.0
    assert stats["ci_low"] == pytest.approx(2.0 - half) and stats["ci_high"] == pytest.approx(2.0 + half)
    control = np.array([0.5, 0.6, 0.7, 0.4, 0.5])
    gain = paired_gain(control + np.array([0.1, 0.2, 0.3, 0.1, 0.2]), control)
    assert gain["mean_gain"] == pytest.approx(0.18)
    assert gain["wilcoxon_p"] == pytest.approx(2 / 32)  # exact test: all 5 gains positive
    assert 0.1 <= gain["ci_low"] < 0.18 < gain["ci_high"] <= 0.3
    assert paired_gain(control, control)["wilcoxon_p"] is None  # no difference at all: no test
