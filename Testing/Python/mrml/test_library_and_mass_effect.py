"""A library lesion instead of the parametric one, and mass effect, in a real slicer-core scene with
the shipped default model, as the Slicer module and the browser app ask for them: a glioma
segmentation (the tumour phantom's, as a BraTS 2021 file) lands at the seed with its shape, another
random seed turns it, the tissue around a lesion is pushed away and nothing beyond the push's reach
changes, and provenance says what was done (the library file by name, never by path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.library import LIBRARY_FILE, write_library
from helpers.mrml import add_roi, load_case_into_scene, node_counts, seed_ras, voxels
from scipy import ndimage

from SynthPathologyLib.core.errors import CaseError, LesionPlacementError, SynthPathologyError
from SynthPathologyLib.core.image_io import lps_to_ras, write_image
from SynthPathologyLib.lesions.library import read_library_label
from SynthPathologyLib.lesions.mass_effect import MassEffect, apply_mass_effect
from SynthPathologyLib.lesions.placement import core_centroid_lps, placement_transform
from SynthPathologyLib.mrml import create_headless_scene, save_variants_from_scene, synthesize_in_scene
from SynthPathologyLib.mrml.segmentation import segmentation_node_to_label
from SynthPathologyLib.mrml.volumes import volume_node_to_sitk

# The library lesion's core is 10.7 ml, the ball of 27.3 mm: a seed of that size places it at scale ~1.
CORE_RADIUS_MM = 13.6
# The synthesis region is the lesion grown by the model's margin (6 mm) inside the brain.
REGION_REACH_MM = 12.0


@pytest.fixture
def app():
    return create_headless_scene()


@pytest.fixture(scope="module")
def library_file(tumor_case, tmp_path_factory) -> Path:
    return write_library(tumor_case, tmp_path_factory.mktemp("library"))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def test_a_library_lesion_lands_at_the_seed_keeps_its_shape_and_is_named(app, healthy_case, library_file):
    volumes = load_case_into_scene(app.scene, healthy_case)
    p = seed_ras(healthy_case)
    seed = add_roi(app.scene, p, (CORE_RADIUS_MM,) * 3)
    result = synthesize_in_scene(app.scene, volumes, seed, random_seed=3, library_lesion=library_file)

    label = segmentation_node_to_label(result.segmentation_node, healthy_case.reference)
    assert np.array_equal(voxels(label), voxels(result.label))
    assert np.linalg.norm(np.subtract(lps_to_ras(core_centroid_lps(label)), p)) < 2 * 2.0  # two 2 mm voxels

    placement = result.provenance["lesion"]["library"]
    assert placement["source"] == LIBRARY_FILE
    assert str(library_file.parent) not in json.dumps(result.provenance), "provenance must not show server paths"
    assert placement["scale"] == pytest.approx(1.0, abs=0.05) and placement["core_kept"] > 0.9
    # Mapped back onto the source's grid, the placed lesion is the real one, label by label.
    source = read_library_label(library_file)
    transform = placement_transform(core_centroid_lps(source), result.spec.center_lps, placement["scale"],
                                    placement["orientation_deg"])
    back = voxels(sitk.Resample(result.label, source, transform.GetInverse(), sitk.sitkNearestNeighbor, 0,
                                sitk.sitkUInt8))
    original = voxels(source)
    assert _dice(original > 0, back > 0) > 0.8
    assert _dice(np.isin(original, (1, 3)), np.isin(back, (1, 3))) > 0.8  # the core
    assert _dice(original == 2, back == 2) > 0.7  # the edema

    flair = voxels(volume_node_to_sitk(result.volume_nodes["flair"]))
    assert (flair != voxels(healthy_case.images["flair"]))[voxels(label) > 0].mean() > 0.5

    turned = synthesize_in_scene(app.scene, volumes, seed, random_seed=4, library_lesion=library_file)
    assert turned.provenance["lesion"]["library"]["orientation_deg"] != placement["orientation_deg"]
    assert not np.array_equal(voxels(turned.label), voxels(result.label)), "the next variant is turned"


def test_mass_effect_moves_the_tissue_near_the_lesion_and_nothing_beyond_its_reach(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    plain = synthesize_in_scene(app.scene, volumes, seed, random_seed=1)
    plain_t1 = voxels(volume_node_to_sitk(plain.volume_nodes["t1"]))
    pushed = synthesize_in_scene(app.scene, volumes, seed, random_seed=1, mass_effect_mm=4.0)

    field = pushed.provenance["mass_effect"]
    assert field["displacement_mm"] == 4.0 and "mass_effect" not in plain.provenance
    effect = MassEffect(**field)
    warped = apply_mass_effect(healthy_case, effect)
    lesion = voxels(pushed.label) > 0
    spacing = healthy_case.reference.GetSpacing()[::-1]
    outside_region = ndimage.distance_transform_edt(~lesion, sampling=spacing) > REGION_REACH_MM
    centre = np.asarray(healthy_case.reference.TransformPhysicalPointToContinuousIndex(effect.center_lps))[::-1]
    grid = np.indices(lesion.shape, dtype=float)
    distance = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing)))
    beyond = distance > effect.core_radius_mm + effect.reach_mm + max(spacing)
    for contrast, node in pushed.volume_nodes.items():
        shown, original = voxels(volume_node_to_sitk(node)), voxels(healthy_case.images[contrast])
        assert np.array_equal(shown[beyond], original[beyond]), f"{contrast}: voxels beyond the reach changed"
        # Outside the synthesis region the result is the input pushed by the recorded field, bit for bit.
        assert np.array_equal(shown[outside_region], voxels(warped.images[contrast])[outside_region]), contrast
    moved = (voxels(volume_node_to_sitk(pushed.volume_nodes["t1"])) != plain_t1) & outside_region
    assert moved.sum() > 100, "no tissue pushed beyond the synthesis region"
    # The lesion is painted on the pushed case where the seed asked: the field is centred on its core.
    assert np.allclose(effect.center_lps, core_centroid_lps(pushed.label))
    assert np.array_equal(voxels(segmentation_node_to_label(pushed.segmentation_node, healthy_case.reference)),
                          voxels(pushed.label))


def test_saved_variants_record_the_library_lesion_and_the_mass_effect(app, healthy_case, library_file, tmp_path):
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (CORE_RADIUS_MM,) * 3)
    folders = save_variants_from_scene(app.scene, volumes, seed, tmp_path, variants=2, first_seed=5,
                                       library_lesion=library_file, mass_effect_mm=2.5)
    records = [json.loads((folder / "provenance.json").read_text()) for folder in folders]
    for record, random_seed in zip(records, (5, 6)):
        assert record["random_seed"] == random_seed
        assert record["lesion"]["library"]["source"] == LIBRARY_FILE
        assert record["mass_effect"]["displacement_mm"] == 2.5
    assert records[0]["lesion"]["library"]["orientation_deg"] != records[1]["lesion"]["library"]["orientation_deg"]


def test_bad_library_files_and_mass_effects_are_refused_and_the_scene_is_unchanged(app, healthy_case, tmp_path):
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    counts = node_counts(app.scene)
    empty = tmp_path / "empty-seg.nii.gz"
    write_image(sitk.Image(8, 8, 8, sitk.sitkUInt8), empty)
    with pytest.raises(CaseError, match="no tumour core"):
        synthesize_in_scene(app.scene, volumes, seed, library_lesion=empty)
    with pytest.raises(SynthPathologyError, match="mass effect must be >= 0 mm, got -1"):
        synthesize_in_scene(app.scene, volumes, seed, mass_effect_mm=-1.0)
    with pytest.raises(LesionPlacementError, match="too large for a core of radius"):
        synthesize_in_scene(app.scene, volumes, seed, mass_effect_mm=10.0)  # an 8 mm core's radius
    assert node_counts(app.scene) == counts
