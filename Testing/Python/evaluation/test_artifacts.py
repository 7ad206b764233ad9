"""Artifact measures against values computed by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from SynthPathologyLib.evaluation.artifacts import (
    band_bias,
    blocks_inside,
    checkerboard_energy,
    checkerboard_index,
    checkerboard_response,
    repaint_artifacts,
)

SHAPE = (6, 7, 8)


def checkerboard(shape=SHAPE) -> np.ndarray:
    z, y, x = np.indices(shape)
    return (-1.0) ** (z + y + x)


def test_the_filter_matches_a_correlation_with_the_alternating_kernel():
    image = np.random.default_rng(0).normal(size=SHAPE)
    kernel = checkerboard((2, 2, 2)) / 8
    expected = ndimage.correlate(image, kernel, mode="constant", origin=(-1, -1, -1))[:-1, :-1, :-1]
    assert np.allclose(checkerboard_response(image), expected)


def test_a_2_voxel_grid_has_unit_energy_and_smooth_intensity_none():
    mask = np.ones(SHAPE, bool)
    assert checkerboard_energy(3.0 * checkerboard(), mask) == pytest.approx(9.0)
    z, y, x = np.indices(SHAPE).astype(float)
    smooth = 5 + 0.3 * z - 0.2 * y + 0.1 * x + np.sin(x / 3) + z ** 2 / 10
    assert checkerboard_energy(smooth, mask) == pytest.approx(0.0, abs=1e-20)


def test_only_blocks_wholly_inside_the_mask_count():
    mask = np.zeros(SHAPE, bool)
    mask[1:4, 2:4, 3:6] = True  # 3 x 2 x 3 voxels hold 2 x 1 x 2 blocks
    assert blocks_inside(mask).sum() == 4
    image = np.zeros(SHAPE)
    image[mask] = checkerboard()[mask]
    image[0] = 100.0  # outside the mask: must not count
    assert checkerboard_energy(image, mask) == pytest.approx(1.0)
    assert math.isnan(checkerboard_energy(image, np.zeros(SHAPE, bool)))


def test_the_index_is_the_ratio_of_energies():
    mask = np.ones(SHAPE, bool)
    rng = np.random.default_rng(1)
    real = rng.normal(size=SHAPE)
    synthetic = real + 0.5 * checkerboard()
    expected = checkerboard_energy(synthetic, mask) / checkerboard_energy(real, mask)
    assert checkerboard_index(synthetic, real, mask) == pytest.approx(expected)
    assert checkerboard_index(real, real, mask) == pytest.approx(1.0)


def test_band_bias_is_the_relative_difference_of_the_band_means():
    region = np.zeros(SHAPE, bool)
    region[1:5, 1:6, 1:7] = True
    lesion = np.zeros(SHAPE, bool)
    lesion[2:4, 2:5, 2:6] = True
    real = np.full(SHAPE, 2.0)
    synthetic = real.copy()
    synthetic[region & ~lesion] = 2.5  # a halo 25% brighter
    synthetic[lesion] = 10.0  # the lesion itself does not count
    assert band_bias(synthetic, real, region, lesion) == pytest.approx(0.25)
    assert band_bias(real, real, region, lesion) == 0.0
    assert math.isnan(band_bias(synthetic, real, lesion, lesion))


def test_a_repaint_s_region_is_where_it_differs_from_the_real_case():
    rng = np.random.default_rng(2)
    real = rng.uniform(1.0, 2.0, size=(2, *SHAPE))
    label = np.zeros(SHAPE, np.uint8)
    label[2:4, 2:5, 2:6] = 3
    region = np.zeros(SHAPE, bool)
    region[1:5, 1:6, 1:7] = True
    synthetic = real.copy()
    synthetic[:, region] *= 1.1  # band and lesion repainted 10% brighter, the rest untouched
    metrics = repaint_artifacts(real, synthetic, label, ["t1", "flair"])
    for index, contrast in enumerate(("t1", "flair")):
        assert metrics[f"band_bias_{contrast}"] == pytest.approx(
            band_bias(synthetic[index], real[index], region, label > 0))
        assert metrics[f"checkerboard_{contrast}"] == pytest.approx(1.1 ** 2)
    assert repaint_artifacts(real, synthetic, np.zeros(SHAPE, np.uint8), ["t1", "flair"]) == {}
