"""Seed -> lesion geometry (generate_lesion) and the lesion library (place_label_map), on small
synthetic brains: an ellipsoid brain mask on a 2 mm grid (one with an oblique direction matrix)
and white-matter maps built to make edema spread measurable."""

from __future__ import annotations

import re

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.errors import GridMismatchError, LesionPlacementError
from SynthPathologyLib.core.image_io import read_image, write_image
from SynthPathologyLib.lesions import glioma_shape
from SynthPathologyLib.lesions.placement import core_centroid_lps, generate_lesion, place_label_map
from SynthPathologyLib.lesions.spec import Composition, LesionSpec

NCR, ED, ET = 1, 2, 3
BRAIN_SEMI_AXES_MM = (60.0, 70.0, 50.0)


def rotation_deg(ax: float, ay: float, az: float) -> np.ndarray:
    return LesionSpec((0, 0, 0), (1, 1, 1), (ax, ay, az)).rotation()


def make_grid(size: tuple[int, int, int], spacing: float, direction: np.ndarray = np.eye(3)) -> sitk.Image:
    """A float image of ``size`` (x, y, z) whose centre is the physical point (0, 0, 0)."""
    image = sitk.Image(list(size), sitk.sitkFloat32)
    image.SetSpacing([spacing] * 3)
    image.SetDirection(direction.ravel().tolist())
    image.SetOrigin((-direction @ (spacing * (np.asarray(size) - 1) / 2)).tolist())
    return image


def points_lps(image: sitk.Image) -> np.ndarray:
    """Physical LPS position (mm) of every voxel, shape (z, y, x, 3)."""
    nx, ny, nz = image.GetSize()
    zyx = np.stack(np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij"), axis=-1)
    step = np.reshape(image.GetDirection(), (3, 3)) * np.asarray(image.GetSpacing())
    return np.asarray(image.GetOrigin()) + zyx[..., ::-1] @ step.T


def on_grid(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def ellipsoid_brain(grid: sitk.Image) -> tuple[sitk.Image, sitk.Image]:
    """Brain mask (uint8 ellipsoid) and white-matter probability (1 in the inner half, fading out)."""
    radius = np.linalg.norm(points_lps(grid) / np.asarray(BRAIN_SEMI_AXES_MM), axis=-1)
    brain = (radius <= 1).astype(np.uint8)
    wm = np.clip(2.0 - 2.0 * radius / 0.75, 0, 1).astype(np.float32) * brain
    return on_grid(brain, grid), on_grid(wm, grid)


@pytest.fixture(scope="module")
def brain() -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """(reference, brain mask, white matter) on an axis-aligned 2 mm grid."""
    grid = make_grid((70, 80, 60), 2.0)
    return (grid, *ellipsoid_brain(grid))


@pytest.fixture(scope="module")
def oblique_brain() -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """The same brain on a 2 mm grid whose axes are rotated away from LPS."""
    grid = make_grid((80, 88, 72), 2.0, rotation_deg(15, -10, 25))
    return (grid, *ellipsoid_brain(grid))


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def core_volume_mm3(label: sitk.Image) -> float:
    return np.count_nonzero(np.isin(array(label), (NCR, ET))) * float(np.prod(label.GetSpacing()))


CASES = [
    # seed (LPS mm), diameters (mm), orientation (deg), random seed, composition
    ((0.0, 0.0, 0.0), (30.0, 30.0, 30.0), (0.0, 0.0, 0.0), 0, Composition()),
    ((20.0, -15.0, 10.0), (40.0, 24.0, 18.0), (30.0, 0.0, 45.0), 1, Composition(irregularity=0.7)),
    ((-25.0, 20.0, -5.0), (14.0, 14.0, 20.0), (0.0, 60.0, 0.0), 2, Composition(necrosis_fraction=0.0)),
    (
        (5.0, 30.0, 15.0),
        (24.0, 20.0, 22.0),
        (-20.0, 10.0, 80.0),
        3,
        Composition(irregularity=1.0, edema_extent_mm=15.0),
    ),
]


@pytest.mark.parametrize("grid_name", ["brain", "oblique_brain"])
@pytest.mark.parametrize("center, diameters, orientation, random_seed, composition", CASES)
def test_core_centroid_is_at_the_seed_and_volume_matches_the_ellipsoid(
    request, grid_name, center, diameters, orientation, random_seed, composition
):
    reference, mask, wm = request.getfixturevalue(grid_name)
    spec = LesionSpec(center, diameters, orientation, composition, random_seed=random_seed)
    label = generate_lesion(spec, reference, mask, wm)

    assert label.GetPixelID() == sitk.sitkUInt8 and label.GetSize() == reference.GetSize()
    assert np.linalg.norm(core_centroid_lps(label) - np.asarray(center)) < 3.0
    assert core_volume_mm3(label) == pytest.approx(spec.core_volume_mm3(), rel=0.25)


def test_regions_are_nested_necrosis_inside_enhancing_inside_edema(brain):
    reference, mask, _ = brain
    # Mildly irregular: every lobe is thick enough for the rim, so the asked necrosis fits.
    composition = Composition(edema_extent_mm=6.0, necrosis_fraction=0.3, rim_thickness_mm=3.0, irregularity=0.35)
    spec = LesionSpec((10.0, -5.0, 0.0), (40.0, 36.0, 34.0), (0.0, 20.0, 0.0), composition, random_seed=5)
    labels = array(generate_lesion(spec, reference, mask))
    core = np.isin(labels, (NCR, ET))

    necrosis = labels == NCR
    assert necrosis.any()
    necrosis_grown = array(
        sitk.BinaryDilate(on_grid(necrosis.astype(np.uint8), reference), [1, 1, 1], sitk.sitkBox)
    )
    assert core[necrosis_grown.astype(bool)].all(), "necrosis touches edema or background"
    assert np.count_nonzero(necrosis) / np.count_nonzero(core) == pytest.approx(0.3, abs=0.05)

    core_grown = array(
        sitk.BinaryDilate(on_grid(core.astype(np.uint8), reference), [1, 1, 1], sitk.sitkCross)
    )
    shell = core_grown.astype(bool) & ~core
    assert (labels[shell] == ED).all(), "edema does not surround the core"


def test_composition_without_necrosis_or_edema_is_solid_enhancing(brain):
    reference, mask, wm = brain
    composition = Composition(edema_extent_mm=0.0, necrosis_fraction=0.0)
    labels = array(
        generate_lesion(
            LesionSpec((0.0, 0.0, 0.0), (30.0, 30.0, 30.0), composition=composition), reference, mask, wm
        )
    )
    assert set(np.unique(labels)) == {0, ET}


def test_edema_spreads_further_along_white_matter_than_across_grey_matter():
    reference = make_grid((60, 60, 40), 1.5)
    mask, _ = ellipsoid_brain(reference)
    lps = points_lps(reference)
    tube = np.hypot(lps[..., 1], lps[..., 2]) <= 5.0  # a white-matter tract along x through the seed
    wm = on_grid(tube.astype(np.float32), reference)
    core_radius, extent = 6.0, 15.0
    spec = LesionSpec(
        (0.0, 0.0, 0.0),
        (2 * core_radius,) * 3,
        composition=Composition(edema_extent_mm=extent, irregularity=0.0),
    )
    edema = array(generate_lesion(spec, reference, mask, wm)) == ED

    reach_along = np.abs(lps[..., 0][edema & tube]).max() - core_radius
    across = edema & (np.abs(lps[..., 0]) < 2.0)
    reach_across = np.abs(lps[..., 1][across]).max() - core_radius
    assert reach_along <= extent + 1.5
    assert reach_along > 2 * reach_across > 0


def test_edema_marched_on_blocks_matches_marching_every_voxel(monkeypatch):
    # A 1 mm grid is marched on 2 mm blocks; a 1 mm lattice marches every voxel.
    reference = make_grid((90, 90, 80), 1.0)
    mask, wm = ellipsoid_brain(reference)
    spec = LesionSpec((20.0, 10.0, 0.0), (30.0, 24.0, 27.0), random_seed=3)
    blocks = array(generate_lesion(spec, reference, mask, wm))
    monkeypatch.setattr(glioma_shape, "EDEMA_LATTICE_MM", 1.0)
    voxels = array(generate_lesion(spec, reference, mask, wm))

    assert np.array_equal(np.isin(blocks, (NCR, ET)), np.isin(voxels, (NCR, ET)))  # same core
    edema_blocks, edema_voxels = blocks == ED, voxels == ED
    dice = 2 * np.count_nonzero(edema_blocks & edema_voxels) / (edema_blocks.sum() + edema_voxels.sum())
    assert dice > 0.92
    assert edema_blocks.sum() == pytest.approx(edema_voxels.sum(), rel=0.08)


def test_lesion_is_clipped_to_the_brain(brain):
    reference, mask, wm = brain
    # Near the brain's edge along x: part of the core and much of the edema fall outside.
    spec = LesionSpec(
        (53.0, 0.0, 0.0), (24.0, 24.0, 24.0), composition=Composition(edema_extent_mm=12.0), random_seed=4
    )
    labels = array(generate_lesion(spec, reference, mask, wm))
    inside = array(mask).astype(bool)
    assert labels[inside].any()
    assert not labels[~inside].any()
    assert core_volume_mm3(on_grid(labels, reference)) < 0.9 * spec.core_volume_mm3()  # it was clipped


def test_same_random_seed_same_lesion_other_seed_other_lesion(brain):
    reference, mask, wm = brain
    spec = LesionSpec((0.0, 10.0, 0.0), (30.0, 25.0, 25.0), random_seed=7)
    first = array(generate_lesion(spec, reference, mask, wm))
    again = array(generate_lesion(spec, reference, mask, wm))
    other = array(
        generate_lesion(LesionSpec((0.0, 10.0, 0.0), (30.0, 25.0, 25.0), random_seed=8), reference, mask, wm)
    )
    np.testing.assert_array_equal(first, again)
    assert np.count_nonzero(first != other) > 0.1 * np.count_nonzero(first)


def ellipsoid_like(spec: LesionSpec, reference: sitk.Image) -> np.ndarray:
    local = (points_lps(reference) - np.asarray(spec.center_lps)) @ spec.rotation()
    return np.linalg.norm(local / (np.asarray(spec.diameters_mm) / 2), axis=-1) <= 1


@pytest.mark.parametrize("random_seed", [0, 1, 2])
def test_core_is_an_irregular_shape_not_a_plain_ellipsoid(oblique_brain, random_seed):
    reference, mask, wm = oblique_brain
    spec = LesionSpec((0.0, 0.0, 0.0), (36.0, 28.0, 24.0), (20.0, 0.0, 30.0), random_seed=random_seed)
    core = np.isin(array(generate_lesion(spec, reference, mask, wm)), (NCR, ET))
    ellipsoid = ellipsoid_like(spec, reference)
    assert np.count_nonzero(core ^ ellipsoid) > 0.12 * np.count_nonzero(ellipsoid)

    plain = LesionSpec(
        spec.center_lps, spec.diameters_mm, spec.orientation_deg, Composition(irregularity=0.0)
    )
    core = np.isin(array(generate_lesion(plain, reference, mask, wm)), (NCR, ET))
    assert np.count_nonzero(core ^ ellipsoid) < 0.05 * np.count_nonzero(ellipsoid)


def ras_text(center_lps: tuple[float, float, float]) -> str:
    x, y, z = center_lps
    return f"RAS ({-x + 0.0:.1f}, {-y + 0.0:.1f}, {z:.1f})"  # + 0.0: no "-0.0"


@pytest.mark.parametrize(
    "center, diameters, problem",
    [
        ((0.0, 0.0, 58.0), (10.0, 10.0, 10.0), "outside the brain mask"),
        ((0.0, 0.0, 200.0), (10.0, 10.0, 10.0), "outside the image"),
        ((0.0, 0.0, 0.0), (150.0, 40.0, 40.0), "cannot fit"),
        ((0.0, 0.0, 0.0), (4.0, 6.0, 6.0), "under 10 voxels"),
        ((56.0, 0.0, 0.0), (20.0, 70.0, 70.0), "inside the brain"),  # a disc at the brain's edge
    ],
)
def test_refuses_impossible_lesions_naming_the_seed(brain, center, diameters, problem):
    reference, mask, wm = brain
    with pytest.raises(LesionPlacementError, match=re.escape(ras_text(center))) as refused:
        generate_lesion(LesionSpec(center, diameters), reference, mask, wm)
    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)


def test_masks_on_another_grid_are_refused(brain, oblique_brain):
    reference, mask, _ = brain
    with pytest.raises(GridMismatchError, match="white-matter map"):
        generate_lesion(LesionSpec((0.0, 0.0, 0.0), (20.0, 20.0, 20.0)), reference, mask, oblique_brain[2])


@pytest.fixture(scope="module")
def source_label(oblique_brain) -> sitk.Image:
    """An elongated lesion (40 mm along x, 16 mm across) on the oblique grid."""
    reference, mask, wm = oblique_brain
    spec = LesionSpec(
        (-10.0, 5.0, 8.0), (40.0, 16.0, 16.0), composition=Composition(irregularity=0.2), random_seed=11
    )
    return generate_lesion(spec, reference, mask, wm)


def test_placed_label_core_moves_to_the_seed_and_keeps_its_values(source_label, brain, tmp_path):
    reference, mask, _ = brain
    center = (20.0, -10.0, 5.0)
    placed = place_label_map(source_label, reference, center, mask)

    assert np.linalg.norm(core_centroid_lps(placed) - np.asarray(center)) < 2.0  # one voxel
    assert core_volume_mm3(placed) == pytest.approx(core_volume_mm3(source_label), rel=0.1)
    read_back = read_image(write_image(placed, tmp_path / "placed_seg.nii.gz"))
    np.testing.assert_array_equal(array(read_back), array(placed))
    assert set(np.unique(array(read_back))) == {0, NCR, ED, ET}


def test_placed_label_scales_volume_by_the_cube_of_scale(source_label, brain):
    reference, mask, _ = brain
    center = (0.0, 0.0, 0.0)
    placed = place_label_map(source_label, reference, center, mask, scale=1.5)
    assert core_volume_mm3(placed) == pytest.approx(1.5**3 * core_volume_mm3(source_label), rel=0.1)
    assert np.linalg.norm(core_centroid_lps(placed) - np.asarray(center)) < 2.0


def test_placed_label_rotates_like_a_generated_lesion(oblique_brain, brain):
    """Rotating a placed label matches generating the lesion with that orientation (one convention)."""
    reference, mask, _ = brain
    plain = Composition(edema_extent_mm=0.0, necrosis_fraction=0.0, irregularity=0.0)
    upright = LesionSpec((0.0, 0.0, 0.0), (44.0, 14.0, 20.0), composition=plain)
    turned = LesionSpec((10.0, 5.0, -5.0), upright.diameters_mm, (20.0, 35.0, 70.0), composition=plain)
    placed = place_label_map(
        generate_lesion(upright, *oblique_brain[:2]),
        reference,
        turned.center_lps,
        mask,
        orientation_deg=turned.orientation_deg,
    )

    expected = array(generate_lesion(turned, reference, mask)) == ET
    got = array(placed) == ET
    dice = 2 * np.count_nonzero(expected & got) / (np.count_nonzero(expected) + np.count_nonzero(got))
    assert dice > 0.85


def test_placing_refuses_a_seed_outside_the_brain_and_a_label_too_big(source_label, brain):
    reference, mask, _ = brain
    outside = (0.0, 0.0, 55.0)
    with pytest.raises(LesionPlacementError, match=re.escape(ras_text(outside))):
        place_label_map(source_label, reference, outside, mask)
    with pytest.raises(LesionPlacementError, match="cannot fit"):
        place_label_map(source_label, reference, (0.0, 0.0, 0.0), mask, scale=4.0)
