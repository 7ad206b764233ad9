"""Painted tissue takes the grain of the scan around it: a generator's voxel-scale checkerboard
is smoothed away on a smooth scan, a smooth painting gets the scan's noise, a painting that
already matches is left alone, the scan's edges do not count as grain, and the result is
deterministic per random generator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SynthPathologyLib.evaluation.artifacts import checkerboard_energy, checkerboard_index
from SynthPathologyLib.synthesis.texture import TOLERANCE, match_fine_texture, noise_floor

SHAPE = (40, 40, 40)


def ball(radius: float) -> np.ndarray:
    z, y, x = np.indices(SHAPE) - np.array(SHAPE)[:, None, None, None] / 2
    return np.sqrt(z**2 + y**2 + x**2) <= radius


def smooth_anatomy(rng: np.random.Generator) -> np.ndarray:
    """A scan-like crop: smooth structure at several millimetres, intensities ~100-300."""
    return 200 + 60 * ndimage.gaussian_filter(rng.standard_normal(SHAPE), 3) / 0.05


REGION = ball(10)
LESION = ball(7)
SURROUNDINGS = ~ball(11)


def match(generated: np.ndarray, scan: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict]:
    return match_fine_texture(generated, scan, REGION, LESION, SURROUNDINGS, np.random.default_rng(seed))


def test_white_noise_floor_is_its_variance_over_eight():
    noise = np.random.default_rng(0).normal(0, 4.0, SHAPE)
    assert noise_floor(noise, np.ones(SHAPE, bool)) == pytest.approx(16 / 8, rel=0.05)


def test_the_noise_floor_ignores_sharp_edges_in_the_scan():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 2.0, SHAPE)
    # Vessel-like dots: 1% of the voxels 80 units bright raise the mean energy tenfold.
    edged = noise + 80.0 * (rng.random(SHAPE) < 0.01)
    everywhere = np.ones(SHAPE, bool)
    assert checkerboard_energy(edged, everywhere) > 10 * checkerboard_energy(noise, everywhere)
    assert noise_floor(edged, everywhere) == pytest.approx(noise_floor(noise, everywhere), rel=0.3)


def test_a_checkerboard_on_a_smooth_scan_is_smoothed_to_the_scans_grain():
    rng = np.random.default_rng(1)
    scan = smooth_anatomy(rng) + rng.normal(0, 1.0, SHAPE)
    grid = (-1.0) ** np.indices(SHAPE).sum(0)
    generated = smooth_anatomy(rng) + 15 * grid * rng.uniform(0.5, 1.5, SHAPE)
    assert checkerboard_index(generated, scan, REGION) > 50

    adjusted, done = match(generated, scan)

    assert "detail_scale" in done
    assert checkerboard_energy(adjusted, LESION) == pytest.approx(noise_floor(scan, SURROUNDINGS), rel=0.2)
    assert checkerboard_index(adjusted, scan, LESION) < 1.5
    # Smoothing keeps the painting's level and its structure larger than a few voxels.
    assert abs(adjusted[REGION].mean() - generated[REGION].mean()) < 1.0


def test_a_smooth_painting_in_a_noisy_scan_gets_the_scans_noise():
    rng = np.random.default_rng(2)
    scan = smooth_anatomy(rng) + rng.normal(0, 6.0, SHAPE)
    generated = smooth_anatomy(rng)

    adjusted, done = match(generated, scan)

    assert done["noise_sd"] == pytest.approx(6.0, rel=0.15)
    assert checkerboard_energy(adjusted, LESION) == pytest.approx(noise_floor(scan, SURROUNDINGS), rel=0.15)
    again, _ = match(generated, scan)
    other, _ = match(generated, scan, seed=1)
    np.testing.assert_array_equal(adjusted, again)
    assert not np.array_equal(adjusted, other)


def test_a_painting_with_the_scans_grain_is_left_as_generated():
    rng = np.random.default_rng(3)
    scan = smooth_anatomy(rng) + rng.normal(0, 3.0, SHAPE)
    generated = smooth_anatomy(rng) + rng.normal(0, 3.0 * np.sqrt(TOLERANCE) ** 0.5, SHAPE)

    adjusted, done = match(generated, scan)

    assert done == {}
    np.testing.assert_array_equal(adjusted, generated)


def test_too_small_a_region_to_measure_is_left_as_generated():
    rng = np.random.default_rng(4)
    tiny = ball(1.5)
    generated = rng.normal(0, 50.0, SHAPE)
    adjusted, done = match_fine_texture(generated, np.zeros(SHAPE), tiny, tiny, ~tiny, rng)
    assert done == {}
    np.testing.assert_array_equal(adjusted, generated)
