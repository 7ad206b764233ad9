"""Blinded reading in a real slicer-core scene: a Turing-test case is shown with anonymous node
names and the same standardized display for every case, and nothing of a case lingers into the
next one."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from helpers.mrml import node_counts
from helpers.turing import make_package

from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.mrml import create_headless_scene
from SynthPathologyLib.mrml.reading import clear_reading_nodes, show_blinded_case, show_reading_contrast
from SynthPathologyLib.turing.errors import SessionError
from SynthPathologyLib.turing.study_package import open_package


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path, _key = make_package(tmp_path_factory.mktemp("reading"), n_real=2, n_synthetic=2)
    return open_package(path)


@pytest.fixture
def app():
    return create_headless_scene()


def all_node_names(scene) -> list[str]:
    return [scene.GetNthNode(i).GetName() or "" for i in range(scene.GetNumberOfNodes())]


def test_a_case_is_shown_with_contrast_names_only_and_the_package_window(app, package):
    case_id = package.manifest.case_ids[0]
    case = show_blinded_case(app.scene, package, case_id)

    assert {c: n.GetName() for c, n in case.volume_nodes.items()} == {
        "t1": "T1", "t1c": "T1c", "t2": "T2", "flair": "FLAIR"
    }
    low, high = package.manifest.intensity_range
    for node in case.volume_nodes.values():
        display = node.GetDisplayNode()
        assert not display.GetAutoWindowLevel()
        assert (display.GetWindow(), display.GetLevel()) == pytest.approx((high - low, (high + low) / 2))
        assert display.GetColorNodeID() == "vtkMRMLColorTableNodeGrey"
    for composite_id in ("Red", "Yellow", "Green"):
        composite = app.scene.GetNodeByID(f"vtkMRMLSliceCompositeNode{composite_id}")
        assert composite.GetBackgroundVolumeID() == case.volume_nodes["flair"].GetID()
        assert composite.GetForegroundVolumeID() is None and composite.GetLabelVolumeID() is None
    names = " ".join(all_node_names(app.scene)).lower()
    assert "real" not in names and "synthetic" not in names and "brats" not in names


def test_every_case_gets_the_same_view_and_the_previous_case_is_removed(app, package):
    first, second = package.manifest.case_ids[:2]
    show_blinded_case(app.scene, package, first)
    counts = node_counts(app.scene)
    views = [app.scene.GetNodeByID(f"vtkMRMLSliceNode{v}") for v in ("Red", "Yellow", "Green")]
    fields = [tuple(v.GetFieldOfView()) for v in views]

    case = show_blinded_case(app.scene, package, second)
    assert node_counts(app.scene) == counts
    assert [tuple(v.GetFieldOfView()) for v in views] == fields  # all package cases share one grid
    assert sorted(all_node_names(app.scene)).count("FLAIR") == 1
    assert case.case_id == second


def test_switching_contrast_changes_every_view(app, package):
    case = show_blinded_case(app.scene, package, package.manifest.case_ids[0], contrast="t1")
    show_reading_contrast(app.scene, case, "t2")
    composite = app.scene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert composite.GetBackgroundVolumeID() == case.volume_nodes["t2"].GetID()
    with pytest.raises(SynthPathologyError, match="pd"):
        show_reading_contrast(app.scene, case, "pd")


def test_views_are_centred_on_the_case(app, package):
    case = show_blinded_case(app.scene, package, package.manifest.case_ids[0])
    bounds = np.zeros(6)
    case.volume_nodes["flair"].GetRASBounds(bounds)
    center = (bounds[0::2] + bounds[1::2]) / 2
    red = app.scene.GetNodeByID("vtkMRMLSliceNodeRed")
    slice_to_ras = red.GetSliceToRAS()
    assert [slice_to_ras.GetElement(r, 3) for r in range(3)] == pytest.approx(center.tolist())


def test_unknown_case_and_contrast_are_refused(app, package):
    with pytest.raises(SessionError, match="no case"):
        show_blinded_case(app.scene, package, "ffffffff")
    with pytest.raises(SynthPathologyError, match="pd"):
        show_blinded_case(app.scene, package, package.manifest.case_ids[0], contrast="pd")


def test_clearing_leaves_no_reading_node(app, package):
    before = app.scene.GetNumberOfNodes()
    show_blinded_case(app.scene, package, package.manifest.case_ids[0])
    assert clear_reading_nodes(app.scene) == 4
    # Slice views created for the first case stay; every case node, display and storage node goes.
    assert not app.scene.GetNodesByClass("vtkMRMLScalarVolumeNode").GetNumberOfItems()
    assert not app.scene.GetNodesByClass("vtkMRMLVolumeArchetypeStorageNode").GetNumberOfItems()
    assert app.scene.GetNumberOfNodes() >= before


def test_the_images_of_a_case_read_before_are_released(app, package):
    """Nothing but the scene holds a case's images: once the next case replaces it, only this test's
    own reference is left (a scene query kept every node alive: 54-85 MB per 1 mm case, for good)."""
    first, second = package.manifest.case_ids[:2]
    images = [node.GetImageData() for node in show_blinded_case(app.scene, package, first).volume_nodes.values()]
    show_blinded_case(app.scene, package, second)
    gc.collect()
    assert [image.GetReferenceCount() for image in images] == [1] * len(images)
