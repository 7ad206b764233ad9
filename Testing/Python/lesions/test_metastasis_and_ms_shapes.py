"""Metastasis and multiple-sclerosis geometry through generate_lesion, on small synthetic brains
(an ellipsoid brain on a 2 mm grid with white matter in its inner half; a ball on a 1 mm grid
where voxelization would hide what is measured): ring enhancement around necrosis in large
metastases and solid small ones, edema around them; MS plaques as ovoids of one label, at their
seeds, of the requested volume and orientation; a non-enhancing glioma without label 3."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.lesions.metastasis_shape import SOLID_BELOW_MM
from SynthPathologyLib.lesions.placement import core_centroid_lps, generate_lesion
from SynthPathologyLib.lesions.spec import Composition, LesionSpec

NETC, SNFH, ET = 1, 2, 3
MS_LESION, MS_ENHANCING = 1, 2
BRAIN_SEMI_AXES_MM = (60.0, 70.0, 50.0)
SIX_NEIGHBOURS = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]


def make_grid(size: tuple[int, int, int], spacing: float) -> sitk.Image:
    """A float image of ``size`` (x, y, z) whose centre is the physical point (0, 0, 0)."""
    image = sitk.Image(list(size), sitk.sitkFloat32)
    image.SetSpacing([spacing] * 3)
    image.SetOrigin((-(spacing * (np.asarray(size) - 1) / 2)).tolist())
    return image


def points_lps(image: sitk.Image) -> np.ndarray:
    """Physical LPS position (mm) of every voxel, shape (z, y, x, 3) (identity direction)."""
    nx, ny, nz = image.GetSize()
    zyx = np.stack(np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij"), axis=-1)
    return np.asarray(image.GetOrigin()) + zyx[..., ::-1] * np.asarray(image.GetSpacing())


def on_grid(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


@pytest.fixture(scope="module")
def brain() -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """(reference, brain mask, white matter) on a 2 mm grid: an ellipsoid brain whose white-matter
    probability is 1 in its inner half and fades to 0 at three quarters of its radius."""
    grid = make_grid((70, 80, 60), 2.0)
    radius = np.linalg.norm(points_lps(grid) / np.asarray(BRAIN_SEMI_AXES_MM), axis=-1)
    mask = (radius <= 1).astype(np.uint8)
    wm = np.clip(2.0 - 2.0 * radius / 0.75, 0, 1).astype(np.float32) * mask
    return grid, on_grid(mask, grid), on_grid(wm, grid)


@pytest.fixture(scope="module")
def fine_ball() -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """(reference, brain mask, white matter) on a 1 mm grid: a ball of radius 28 mm, all white matter."""
    grid = make_grid((60, 60, 60), 1.0)
    mask = (np.linalg.norm(points_lps(grid), axis=-1) <= 28.0).astype(np.uint8)
    return grid, on_grid(mask, grid), on_grid(mask.astype(np.float32), grid)


def metastasis(diameter_mm: float, center=(0.0, 0.0, 0.0), seed: int = 3, **composition) -> LesionSpec:
    return LesionSpec(center, (diameter_mm,) * 3, (10.0, 20.0, 30.0),
                      Composition.for_pathology("metastasis", **composition), "metastasis", seed)


def plaque(center=(0.0, 0.0, 0.0), diameters=(14.0, 8.0, 7.0), orientation=(0.0, 30.0, 40.0), seed: int = 5,
           **composition) -> LesionSpec:
    return LesionSpec(center, diameters, orientation, Composition.for_pathology("ms", **composition), "ms", seed)


def outer_shell(mask: np.ndarray) -> np.ndarray:
    """Voxels outside ``mask`` with a 6-neighbour in it."""
    return ndimage.binary_dilation(mask) & ~mask


def principal_axis(mask: np.ndarray, image: sitk.Image) -> np.ndarray:
    """Unit LPS direction of the largest spread of the mask's voxel positions."""
    points = points_lps(image)[mask]
    values, vectors = np.linalg.eigh(np.cov((points - points.mean(0)).T))
    return vectors[:, np.argmax(values)]


def test_a_large_metastasis_is_necrosis_inside_an_enhancing_rim_inside_edema(brain):
    grid, mask, wm = brain
    spec = metastasis(20.0)
    label = array(generate_lesion(spec, grid, mask, wm))
    assert set(np.unique(label)) == {0, NETC, SNFH, ET}
    necrosis, core = label == NETC, np.isin(label, (NETC, ET))
    # Necrosis never touches edema or healthy tissue: each of its 6-neighbours is necrosis or rim.
    padded = np.pad(label, 1)
    for dz, dy, dx in SIX_NEIGHBOURS:
        neighbours = np.roll(padded, (dz, dy, dx), axis=(0, 1, 2))[1:-1, 1:-1, 1:-1]
        assert np.all(np.isin(neighbours[necrosis], (NETC, ET)))
    # The rim is the core's outside: every outer core voxel is enhancing.
    assert np.all(label[core & outer_shell(~core)] == ET)
    # Edema wraps the core (here all white matter around it) and outweighs it.
    shell = outer_shell(core)
    assert np.mean(label[shell] == SNFH) > 0.9
    assert np.count_nonzero(label == SNFH) > np.count_nonzero(core)
    # The core keeps the seed and the requested volume.
    voxel = float(np.prod(grid.GetSpacing()))
    assert np.count_nonzero(core) * voxel == pytest.approx(spec.core_volume_mm3(), rel=0.15)
    assert np.linalg.norm(core_centroid_lps(on_grid(label, grid), "metastasis")) < 2.0


def test_a_small_metastasis_is_solid(brain):
    grid, mask, wm = brain
    label = array(generate_lesion(metastasis(6.0, necrosis_fraction=0.6), grid, mask, wm))
    assert NETC not in label
    assert ET in label and SNFH in label


@pytest.mark.parametrize("diameter_mm", [SOLID_BELOW_MM - 2.0, SOLID_BELOW_MM - 0.5])
def test_a_metastasis_under_the_solid_size_has_no_necrosis_where_a_glioma_would(fine_ball, diameter_mm):
    grid, mask, wm = fine_ball
    spec = metastasis(diameter_mm, necrosis_fraction=0.6, rim_thickness_mm=1.0)
    # The same core drawn as a glioma has room for necrosis on this 1 mm grid: the rule is the
    # metastasis shape's, not voxelization's.
    glioma = array(generate_lesion(LesionSpec(spec.center_lps, spec.diameters_mm, spec.orientation_deg,
                                              spec.composition, "glioma", spec.random_seed), grid, mask, wm))
    assert NETC in glioma
    label = array(generate_lesion(spec, grid, mask, wm))
    assert NETC not in label and ET in label
    assert np.array_equal(np.isin(label, (NETC, ET)), np.isin(glioma, (1, 3)))  # same core


def test_a_metastasis_above_the_solid_size_has_necrosis(fine_ball):
    grid, mask, wm = fine_ball
    label = array(generate_lesion(metastasis(SOLID_BELOW_MM + 2.0, necrosis_fraction=0.4), grid, mask, wm))
    assert NETC in label and ET in label


def test_an_ms_plaque_is_one_label_of_the_ellipsoid_volume_at_its_seed(fine_ball):
    grid, mask, wm = fine_ball
    spec = plaque(center=(2.0, -3.0, 1.0))
    label = array(generate_lesion(spec, grid, mask, wm))
    assert set(np.unique(label)) == {0, MS_LESION}
    body = label == MS_LESION
    assert np.count_nonzero(body) * 1.0 == pytest.approx(spec.core_volume_mm3(), rel=0.1)
    assert ndimage.label(body)[1] == 1
    assert np.linalg.norm(core_centroid_lps(on_grid(label, grid), "ms") - spec.center_lps) < 1.0
    # An ovoid: its long axis is the spec's first axis, and it is elongated as asked.
    assert abs(principal_axis(body, grid) @ spec.rotation()[:, 0]) > 0.95
    extent = np.ptp((points_lps(grid)[body] - spec.center_lps) @ spec.rotation(), axis=0) + 1.0
    assert extent[0] > 1.4 * max(extent[1], extent[2])


def test_an_ms_plaque_has_no_edema_even_without_a_white_matter_map(brain):
    grid, mask, _ = brain
    label = array(generate_lesion(plaque(center=(10.0, 6.0, -4.0)), grid, mask))
    assert set(np.unique(label)) == {0, MS_LESION}


def test_an_enhancing_ms_plaque_is_all_label_2_with_the_same_body(brain):
    grid, mask, wm = brain
    chronic = array(generate_lesion(plaque(), grid, mask, wm))
    active = array(generate_lesion(plaque(enhancing=True), grid, mask, wm))
    assert set(np.unique(active)) == {0, MS_ENHANCING}
    assert np.array_equal(active == MS_ENHANCING, chronic == MS_LESION)


def test_several_ms_seeds_give_one_plaque_at_each(brain):
    grid, mask, wm = brain
    seeds = [(-30.0, -20.0, 10.0), (25.0, 15.0, -10.0), (0.0, 40.0, 20.0), (-10.0, -45.0, -20.0), (30.0, -30.0, 25.0)]
    label = np.zeros(array(mask).shape, np.uint8)
    for k, seed in enumerate(seeds):
        lesion = array(generate_lesion(plaque(center=seed, diameters=(12.0, 8.0, 8.0), seed=k), grid, mask))
        assert not np.any((lesion > 0) & (label > 0))
        label = np.maximum(label, lesion)
    components, count = ndimage.label(label > 0)
    assert count == len(seeds)
    positions = points_lps(grid)
    centroids = [positions[components == k].mean(0) for k in range(1, count + 1)]
    for seed in seeds:
        assert min(np.linalg.norm(c - seed) for c in centroids) < 2.0


def test_ms_plaques_stay_in_white_matter(brain):
    grid, mask, wm = brain
    white = array(wm)
    inside = np.argwhere(white > 0.9)
    center = grid.TransformIndexToPhysicalPoint([int(v) for v in inside[len(inside) // 2][::-1]])
    plain = array(generate_lesion(plaque(center=center, diameters=(14.0, 9.0, 9.0), seed=1), grid, mask))
    clipped = array(generate_lesion(plaque(center=center, diameters=(14.0, 9.0, 9.0), seed=1), grid, mask, wm))
    assert clipped.any() and np.all(white[clipped > 0] > 0.25)
    assert np.array_equal(clipped > 0, (plain > 0) & (white > 0.25))


def test_a_non_enhancing_glioma_core_is_all_label_1(brain):
    grid, mask, wm = brain
    spec = LesionSpec((0.0, 0.0, 0.0), (24.0, 20.0, 22.0), composition=Composition(enhancing=False), random_seed=4)
    label = array(generate_lesion(spec, grid, mask, wm))
    assert set(np.unique(label)) == {0, 1, 2}
    enhancing = array(generate_lesion(LesionSpec(spec.center_lps, spec.diameters_mm, random_seed=4), grid, mask, wm))
    assert {1, 3} <= set(np.unique(enhancing))
    assert np.array_equal(label == 1, np.isin(enhancing, (1, 3)))  # the same core, none of it enhancing
