"""Synthesis in a real slicer-core scene with the shipped default model, the way the Slicer module
and the browser app call it: volume nodes + ROI seed -> synthetic volume nodes, lesion
segmentation, overlay; reruns replace; results survive a scene bundle; lesion removal."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.mrml import NAMES, add_roi, load_case_into_scene, node_counts, seed_ras, voxels
from scipy import ndimage

from SynthPathologyLib.core.errors import CaseError, LesionPlacementError, SynthPathologyError
from SynthPathologyLib.core.image_io import lps_to_ras, same_grid
from SynthPathologyLib.core.resources import resource_path
from SynthPathologyLib.io.brats import read_brats_case
from SynthPathologyLib.lesions.placement import core_centroid_lps
from SynthPathologyLib.mrml import (
    case_preparation,
    create_headless_scene,
    load_scene_bundle,
    remove_lesion_in_scene,
    save_scene_bundle,
    save_variants_from_scene,
    synthesize_in_scene,
)
from SynthPathologyLib.mrml.lesion import LESION_ROLE, synthetic_role
from SynthPathologyLib.mrml.scene import find_role_node
from SynthPathologyLib.mrml.segmentation import label_to_segmentation_node, segmentation_node_to_label
from SynthPathologyLib.mrml.volumes import ijk_to_ras_matrix, volume_node_to_sitk
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.synthesis.session import SynthesisSession

GLIOMA = get_pathology("glioma")


@pytest.fixture
def app():
    return create_headless_scene()


def test_lesion_lands_at_the_roi_and_results_have_the_input_geometry(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    p = seed_ras(healthy_case)
    result = synthesize_in_scene(app.scene, volumes, add_roi(app.scene, p, (9.0, 9.0, 9.0)), random_seed=2)

    label = segmentation_node_to_label(result.segmentation_node, healthy_case.reference)
    assert np.linalg.norm(np.subtract(lps_to_ras(core_centroid_lps(label)), p)) < 3.0
    assert result.provenance["operation"] == "insert" and result.provenance["random_seed"] == 2

    segmentation = result.segmentation_node.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(3)] == [lab.name for lab in GLIOMA.labels]
    # one approx per color: pytest >= 9.1 refuses approx of nested sequences
    assert [segmentation.GetNthSegment(i).GetColor() for i in range(3)] == [
        pytest.approx(lab.color) for lab in GLIOMA.labels]
    for contrast, node in result.volume_nodes.items():
        assert node.GetName() == f"{NAMES[contrast]} (synthetic)"
        image = volume_node_to_sitk(node)
        assert same_grid(image, healthy_case.reference, tolerance=1e-9)
        assert image.GetPixelID() == healthy_case.images[contrast].GetPixelID()
        np.testing.assert_allclose(ijk_to_ras_matrix(image), ijk_to_ras_matrix(healthy_case.reference))


def test_voxels_far_from_the_lesion_are_untouched_and_the_lesion_changes_the_image(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    result = synthesize_in_scene(app.scene, volumes, add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0)))

    lesion = voxels(result.label) > 0
    spacing = healthy_case.reference.GetSpacing()[::-1]
    distance_mm = ndimage.distance_transform_edt(~lesion, sampling=spacing)
    for contrast, node in result.volume_nodes.items():
        changed = voxels(volume_node_to_sitk(node)) != voxels(healthy_case.images[contrast])
        # The synthesis region is the lesion plus the model's margin (a few mm), inside the brain.
        assert distance_mm[changed].max() <= 12.0
        assert changed[lesion].mean() > 0.5


def test_overlay_shows_synthetic_flair_over_the_original_at_the_opacity(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    result = synthesize_in_scene(app.scene, volumes, seed, opacity=0.7)

    composite = app.scene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert composite.GetBackgroundVolumeID() == volumes["flair"].GetID()
    assert composite.GetForegroundVolumeID() == result.volume_nodes["flair"].GetID()
    assert composite.GetForegroundOpacity() == pytest.approx(0.7)


def test_synthetic_volumes_show_at_their_originals_window_and_level(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    volumes["t2"].GetDisplayNode().SetAutoWindowLevel(False)
    volumes["t2"].GetDisplayNode().SetWindowLevel(123.0, 45.0)
    result = synthesize_in_scene(app.scene, volumes, add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0)))

    for contrast, node in result.volume_nodes.items():
        display, original = node.GetDisplayNode(), volumes[contrast].GetDisplayNode()
        # Fixed, not recomputed from the synthetic voxels: both compare at one window.
        assert not display.GetAutoWindowLevel()
        assert (display.GetWindow(), display.GetLevel()) == pytest.approx((original.GetWindow(), original.GetLevel()))
        assert display.GetColorNodeID() == original.GetColorNodeID()
    assert result.volume_nodes["t2"].GetDisplayNode().GetWindow() == pytest.approx(123.0)


def test_rerun_replaces_the_results_and_another_seed_gives_another_variant(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    first = synthesize_in_scene(app.scene, volumes, seed, random_seed=0)
    first_flair = np.array(voxels(volume_node_to_sitk(first.volume_nodes["flair"])))
    counts = node_counts(app.scene)

    second = synthesize_in_scene(app.scene, volumes, seed, random_seed=1)
    assert node_counts(app.scene) == counts
    assert second.volume_nodes["flair"] is first.volume_nodes["flair"]
    assert second.segmentation_node is first.segmentation_node
    assert not np.array_equal(voxels(volume_node_to_sitk(second.volume_nodes["flair"])), first_flair)


def test_a_rerun_elsewhere_restores_the_first_lesions_voxels(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    first = synthesize_in_scene(app.scene, volumes, seed)
    seed.SetCenter(*(seed_ras(healthy_case) + [0.0, 0.0, -24.0]))
    second = synthesize_in_scene(app.scene, volumes, seed)

    first_lesion = voxels(first.label) > 0
    assert not (first_lesion & (voxels(second.label) > 0)).any()
    for contrast, node in second.volume_nodes.items():
        shown = voxels(volume_node_to_sitk(node))
        assert np.array_equal(shown[first_lesion], voxels(healthy_case.images[contrast])[first_lesion])
        assert not np.array_equal(shown, voxels(healthy_case.images[contrast]))


def test_results_survive_a_scene_bundle(app, healthy_case, tmp_path):
    volumes = load_case_into_scene(app.scene, healthy_case)
    result = synthesize_in_scene(app.scene, volumes, add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0)))
    expected = volume_node_to_sitk(result.volume_nodes["t1c"])
    path = save_scene_bundle(app.scene, tmp_path / "scene.mrb")

    reopened = create_headless_scene()
    load_scene_bundle(reopened.scene, path)
    t1c = find_role_node(reopened.scene, synthetic_role("t1c"), "vtkMRMLScalarVolumeNode")
    lesion = find_role_node(reopened.scene, LESION_ROLE, "vtkMRMLSegmentationNode")
    assert t1c.GetName() == "Patient T1c (synthetic)"
    assert np.array_equal(voxels(volume_node_to_sitk(t1c)), voxels(expected))
    assert np.array_equal(voxels(segmentation_node_to_label(lesion, expected)), voxels(result.label))


def test_a_seed_outside_the_brain_is_refused_and_the_scene_is_unchanged(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    corner = lps_to_ras(healthy_case.reference.TransformIndexToPhysicalPoint((2, 2, 2)))
    seed = add_roi(app.scene, corner, (8.0, 8.0, 8.0))
    counts = node_counts(app.scene)
    with pytest.raises(LesionPlacementError):
        synthesize_in_scene(app.scene, volumes, seed)
    assert node_counts(app.scene) == counts


def test_a_missing_contrast_is_left_out_or_named_by_a_model_that_needs_it(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    del volumes["t1c"]
    roi = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    result = synthesize_in_scene(app.scene, volumes, roi)  # the default model takes any subset
    assert result.provenance["contrasts"] == ["t1", "t2", "flair"] and set(result.volume_nodes) == set(volumes)
    with pytest.raises(SynthPathologyError, match="t1c"):  # a v1 model needs all four
        synthesize_in_scene(app.scene, volumes, roi, model=resource_path("Models/glioma_phantom_pix2pix"))


def test_remove_lesion_repaints_only_around_the_lesion(app, tumor_case):
    volumes = load_case_into_scene(app.scene, tumor_case)
    segmentation = label_to_segmentation_node(app.scene, tumor_case.label, name="Tumor")
    result = remove_lesion_in_scene(app.scene, volumes, segmentation)

    lesion = voxels(tumor_case.label) > 0
    distance_mm = ndimage.distance_transform_edt(~lesion, sampling=tumor_case.reference.GetSpacing()[::-1])
    changed = voxels(volume_node_to_sitk(result.volume_nodes["flair"])) != voxels(tumor_case.images["flair"])
    assert changed[lesion].mean() > 0.5 and distance_mm[changed].max() <= 12.0
    assert result.provenance["operation"] == "remove" and not voxels(result.label).any()
    assert result.segmentation_node is segmentation  # the user's lesion is kept as it was


def test_remove_without_a_lesion_is_refused(app, healthy_case):
    volumes = load_case_into_scene(app.scene, healthy_case)
    empty = label_to_segmentation_node(app.scene, sitk.Image(healthy_case.label), name="Empty")
    with pytest.raises(CaseError, match="no lesion"):
        remove_lesion_in_scene(app.scene, volumes, empty)


def test_variants_are_saved_as_case_folders_and_cancel_keeps_the_finished_ones(app, healthy_case, tmp_path):
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    calls = []

    def stop_after_two(done: int, total: int) -> bool:
        calls.append((done, total))
        return done < 2

    folders = save_variants_from_scene(
        app.scene, volumes, seed, tmp_path, variants=3, first_seed=5, case_id="Demo", progress=stop_after_two
    )
    assert [f.name for f in folders] == ["Demo-v5", "Demo-v6"] and calls == [(0, 3), (1, 3), (2, 3)]
    labels = []
    for folder, seed_value in zip(folders, (5, 6)):
        saved = read_brats_case(folder)
        assert json.loads((folder / "provenance.json").read_text())["random_seed"] == seed_value
        assert same_grid(saved.reference, healthy_case.reference, tolerance=1e-6)
        labels.append(voxels(saved.label))
    assert not np.array_equal(*labels)  # another seed, another lesion


@pytest.fixture
def counted_preparations(app, healthy_case, monkeypatch):
    """Volume nodes of the healthy case, a seed in them, a session, its default synthesizer and the
    list that grows by one at each case preparation it runs."""
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    session = SynthesisSession()
    synthesizer = session.synthesizer()
    prepared = []
    real_prepare = synthesizer.prepare
    monkeypatch.setattr(synthesizer, "prepare", lambda *a, **k: prepared.append(1) or real_prepare(*a, **k))
    return volumes, seed, session, synthesizer, prepared


def test_the_prepared_brain_is_reused_until_its_voxels_change(app, counted_preparations):
    volumes, seed, session, synthesizer, prepared = counted_preparations

    synthesize_in_scene(app.scene, volumes, seed, model=synthesizer, session=session)
    volumes["flair"].SetName("renamed")  # what interactive use does between clicks: names, display
    volumes["flair"].GetDisplayNode().SetWindowLevel(400, 200)
    synthesize_in_scene(app.scene, volumes, seed, model=synthesizer, random_seed=1, session=session)
    assert len(prepared) == 1

    volumes["t1"].GetImageData().Modified()  # new voxels: prepare again
    synthesize_in_scene(app.scene, volumes, seed, model=synthesizer, session=session)
    assert len(prepared) == 2


def test_a_case_prepared_ahead_in_a_worker_thread_serves_the_first_synthesis(app, counted_preparations):
    volumes, seed, session, synthesizer, prepared = counted_preparations

    with ThreadPoolExecutor(1) as worker:  # how the browser app prepares a case it has just shown
        ahead = worker.submit(case_preparation(session, synthesizer, volumes)).result()
    result = synthesize_in_scene(app.scene, volumes, seed, model=synthesizer, session=session)
    assert len(prepared) == 1 and ahead.case.case_id == result.provenance["source_case"]
    assert case_preparation(session, synthesizer, volumes)() is ahead  # prepared already: no work


def test_sessions_keep_their_own_models_and_cases(app, counted_preparations):
    volumes, seed, session, synthesizer, prepared = counted_preparations

    assert session.synthesizer(device="auto") is synthesizer  # loaded once per (folder, device)
    synthesize_in_scene(app.scene, volumes, seed, model=synthesizer, session=session)
    other = SynthesisSession()
    assert other.synthesizer() is not synthesizer
    synthesize_in_scene(app.scene, volumes, seed, model=synthesizer, session=other)
    assert len(prepared) == 2  # the other session did not see the first one's prepared case
