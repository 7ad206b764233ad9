"""glioma_regions, the glioma's shape generator, on bare grids (no reference image, no refusals)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from SynthPathologyLib.lesions.glioma_shape import glioma_regions
from SynthPathologyLib.lesions.spec import Composition, LesionSpec


def cube_grid(spacing: float, size: int, origin: float = -40.0) -> sitk.Image:
    grid = sitk.Image([size] * 3, sitk.sitkUInt8)
    grid.SetSpacing([spacing] * 3)
    grid.SetOrigin([origin] * 3)
    return grid


def test_regions_are_disjoint_and_inside_the_brain():
    grid = cube_grid(1.0, 81)
    brain = np.ones((81, 81, 81), bool)
    brain[:, :, 45:] = False  # the brain ends at x = 5 mm, through the lesion
    spec = LesionSpec(
        (-5.0, 0.0, 0.0),
        (30.0, 26.0, 22.0),
        (10.0, 0.0, 40.0),
        Composition(edema_extent_mm=10.0),
        random_seed=3,
    )
    regions = glioma_regions(spec, grid, brain, np.full(brain.shape, 0.5, np.float32))

    assert set(regions) == {"necrosis", "enhancing", "edema"}
    stacked = np.stack(list(regions.values()))
    assert stacked.dtype == bool and stacked.shape[1:] == brain.shape
    assert stacked.sum(axis=0).max() == 1, "regions overlap"
    assert all(mask.any() for mask in regions.values())
    assert not stacked[:, ~brain].any()


def test_core_is_a_function_of_physical_position_not_of_the_grid():
    """The 2 mm grid's voxel centres are every other 1 mm voxel centre: the cores must agree there."""
    spec = LesionSpec((3.0, -2.0, 1.0), (34.0, 24.0, 20.0), (30.0, 15.0, -20.0), random_seed=9)
    fine, coarse = cube_grid(1.0, 81), cube_grid(2.0, 41)
    core_fine = _core(spec, fine)
    core_coarse = _core(spec, coarse)
    assert core_coarse.any()
    assert np.count_nonzero(core_fine[::2, ::2, ::2] != core_coarse) <= 0.01 * np.count_nonzero(core_coarse)


def _core(spec: LesionSpec, grid: sitk.Image) -> np.ndarray:
    regions = glioma_regions(spec, grid, np.ones(grid.GetSize()[::-1], bool), None)
    return regions["necrosis"] | regions["enhancing"]


def test_default_cores_are_lobulated_like_real_ones_not_convex():
    """Solidity (voxel volume / convex hull of the voxel centres): convex cores score ~1 or more; real
    glioma cores 0.54-0.97 (Testing/benchmarks/bench_lesion_shapes.py measures both)."""
    from SynthPathologyLib.lesions.shape_measures import solidity

    grid = cube_grid(1.0, 81)
    brain = np.ones((81, 81, 81), bool)
    values, plain = [], []
    for seed in range(5):
        for composition, out in ((Composition(edema_extent_mm=0.0), values),
                                 (Composition(edema_extent_mm=0.0, irregularity=0.0), plain)):
            regions = glioma_regions(LesionSpec((0.0, 0.0, 0.0), (26.0, 22.0, 20.0), (0.0, 30.0, 10.0), composition,
                                                random_seed=seed), grid, brain, None)
            out.append(solidity(regions["necrosis"] | regions["enhancing"], (1.0, 1.0, 1.0)))
    assert min(plain) > 1.0
    assert 0.6 < np.median(values) < 0.95
