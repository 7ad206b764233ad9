"""The MRML bridge on the real slicer-core wheel (real MRML scene and logics, no mocks): volume nodes
<-> SimpleITK with exact oblique geometry, seed nodes -> lesion specs, lesion segmentation nodes,
the slice-view overlay, reruns that replace outputs, scene bundles (.mrb) and BraTS export.

Images are small: a 40^3 grid at 2 mm holding an ellipsoid "brain" (zero outside it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # the slicer-core wheel, installed by the test extra
from helpers.mrml import add_roi, node_counts, voxels, vtk_matrix
from vtkmodules.vtkCommonMath import vtkMatrix4x4  # VTK comes with slicer-core

from SynthPathologyLib.core.errors import CaseError, GridMismatchError, SynthPathologyError
from SynthPathologyLib.core.image_io import lps_to_ras, read_image, same_grid, write_image
from SynthPathologyLib.io.brats import read_brats_case
from SynthPathologyLib.lesions.placement import core_centroid_lps
from SynthPathologyLib.lesions.spec import Composition, LesionSpec
from SynthPathologyLib.mrml import contrast_volume_nodes
from SynthPathologyLib.mrml.lesion import (
    LESION_ROLE,
    _euler_xyz_deg,
    lesion_in_scene,
    lesion_spec_from_seed_node,
    save_brats_case_from_scene,
    synthetic_role,
    volume_nodes_to_case,
)
from SynthPathologyLib.mrml.scene import (
    ROLE_ATTRIBUTE,
    create_headless_scene,
    ensure_slice_views,
    find_role_node,
    load_scene_bundle,
    save_scene_bundle,
    show_overlay,
)
from SynthPathologyLib.mrml.segmentation import label_to_segmentation_node, segmentation_node_to_label
from SynthPathologyLib.mrml.volumes import (
    ijk_to_ras_matrix,
    load_volume_node,
    save_volume_node,
    sitk_to_role_volume_node,
    sitk_to_volume_node,
    volume_node_to_sitk,
)
from SynthPathologyLib.pathologies import get_pathology

GLIOMA = get_pathology("glioma")
CORE = GLIOMA.core_values


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    """Rz @ Ry @ Rx for angles in degrees (LesionSpec's convention)."""
    return LesionSpec((0, 0, 0), (1, 1, 1), (ax, ay, az)).rotation()


def brain_image(
    direction: np.ndarray = np.eye(3), size: int = 40, spacing: float = 2.0, dtype=np.int16
) -> sitk.Image:
    """A size^3 image centred on LPS (0, 0, 0): an ellipsoid brain (semi-axes 34, 30, 28 mm)
    with a smooth intensity pattern inside, exactly 0 outside."""
    image = sitk.Image([size] * 3, sitk.sitkUInt8)
    image.SetSpacing([spacing] * 3)
    image.SetDirection(direction.ravel().tolist())
    image.SetOrigin((-direction @ np.full(3, spacing * (size - 1) / 2)).tolist())
    zyx = np.indices((size,) * 3).reshape(3, -1)
    points = np.asarray(image.GetOrigin()) + (zyx[::-1].T * spacing) @ direction.T
    inside = np.linalg.norm(points / np.array([34.0, 30.0, 28.0]), axis=1) <= 1
    values = (500 + 300 * np.sin(points[:, 0] / 7) + 200 * np.cos(points[:, 2] / 5)) * inside
    result = sitk.GetImageFromArray(values.reshape((size,) * 3).astype(dtype))
    result.CopyInformation(image)
    return result


def on_grid(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def matrix_array(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def add_translation(scene, offset_ras) -> object:
    """A linear transform node moving by ``offset_ras`` (mm)."""
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Shift")
    matrix = np.eye(4)
    matrix[:3, 3] = offset_ras
    transform.SetMatrixTransformToParent(vtk_matrix(matrix))
    return transform


@pytest.fixture
def app():
    return create_headless_scene()


@pytest.fixture(scope="module")
def oblique_brain() -> sitk.Image:
    return brain_image(rotation(12, -8, 20))


@pytest.fixture
def volumes(app, oblique_brain):
    """Contrast -> volume node: t1 (the brain) and t2 (its negative inside the brain)."""
    t2 = sitk.Cast((1000 - oblique_brain) * sitk.Cast(oblique_brain != 0, sitk.sitkInt16), sitk.sitkInt16)
    return {
        "t1": sitk_to_volume_node(app.scene, oblique_brain, "T1"),
        "t2": sitk_to_volume_node(app.scene, t2, "T2"),
    }


# --- volumes ----------------------------------------------------------------------------------


def assert_same_image_exactly(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    assert a.GetOrigin() == b.GetOrigin()
    assert a.GetSpacing() == b.GetSpacing()
    assert a.GetDirection() == b.GetDirection()
    assert a.GetPixelID() == b.GetPixelID()
    assert np.array_equal(voxels(a), voxels(b))


def test_volumes_named_for_a_contrast_are_found_and_synthetic_outputs_are_not(app, oblique_brain):
    """What fills the module's empty contrast selectors: names as BraTS, scanners and Slicer's
    sample data spell them; the first volume of a contrast wins; "(synthetic)" outputs never do."""
    nodes = {name: sitk_to_volume_node(app.scene, oblique_brain, name)
             for name in ("BraTS-GLI-00000-000_t1ce", "Patient FLAIR", "Patient FLAIR (synthetic)", "t2w",
                          "T2 second", "localizer")}
    found = contrast_volume_nodes(app.scene)
    assert found == {"t1c": nodes["BraTS-GLI-00000-000_t1ce"], "flair": nodes["Patient FLAIR"], "t2": nodes["t2w"]}


def test_oblique_nifti_round_trips_exactly_through_a_volume_node(app, tmp_path):
    image = brain_image(rotation(25, -15, 40), size=24, spacing=1.5)
    image.SetSpacing((1.5, 1.25, 2.0))
    image.SetOrigin((12.5, -30.25, 7.0))
    path = write_image(image, tmp_path / "oblique.nii.gz")
    from_file = read_image(path)

    node = sitk_to_volume_node(app.scene, from_file, "oblique")
    assert_same_image_exactly(volume_node_to_sitk(node), from_file)

    # Loaded by Slicer's own reader: IJK-to-RAS is SimpleITK's LPS geometry with x and y negated.
    loaded = load_volume_node(app.scene, path)
    assert loaded.GetName() == "oblique"
    ijk_to_ras = vtkMatrix4x4()
    loaded.GetIJKToRASMatrix(ijk_to_ras)
    np.testing.assert_allclose(matrix_array(ijk_to_ras), ijk_to_ras_matrix(from_file), atol=1e-6)
    first_voxel_ras = matrix_array(ijk_to_ras) @ [0, 0, 0, 1]
    np.testing.assert_allclose(first_voxel_ras[:3], lps_to_ras(from_file.GetOrigin()), atol=1e-6)
    via_slicer = volume_node_to_sitk(loaded)
    assert same_grid(via_slicer, from_file, tolerance=1e-6)
    assert via_slicer.GetPixelID() == sitk.sitkInt16
    assert np.array_equal(voxels(via_slicer), voxels(from_file))

    saved = read_image(save_volume_node(node, tmp_path / "saved.nrrd"))
    assert same_grid(saved, from_file, tolerance=1e-9)
    assert np.array_equal(voxels(saved), voxels(from_file))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_pixel_type_and_voxels_are_kept(app, dtype):
    image = brain_image(size=8, dtype=dtype)
    assert_same_image_exactly(volume_node_to_sitk(sitk_to_volume_node(app.scene, image, "typed")), image)


def test_reusing_a_volume_node_replaces_its_image(app):
    node = sitk_to_volume_node(app.scene, brain_image(size=8), "result")
    before = node_counts(app.scene)
    replacement = brain_image(rotation(0, 0, 30), size=10, dtype=np.float32)
    assert sitk_to_volume_node(app.scene, replacement, "ignored", node) is node
    assert node_counts(app.scene) == before
    assert_same_image_exactly(volume_node_to_sitk(node), replacement)


def test_an_image_of_the_same_shape_is_written_into_the_nodes_voxels_and_views_are_told(app):
    node = sitk_to_volume_node(app.scene, brain_image(size=8, dtype=np.float32), "result")
    image_data = node.GetImageData()
    events = []
    node.AddObserver(slicer.vtkMRMLVolumeNode.ImageDataModifiedEvent, lambda *_: events.append(1))
    replacement = brain_image(rotation(0, 0, 30), size=8, dtype=np.float32) * 2
    sitk_to_volume_node(app.scene, replacement, "ignored", node)
    assert node.GetImageData() is image_data  # the buffer is reused: no new allocation per update
    assert events  # slice views re-slice the new voxels
    assert_same_image_exactly(volume_node_to_sitk(node), replacement)
    other_type = brain_image(size=8, dtype=np.int16)
    sitk_to_volume_node(app.scene, other_type, "ignored", node)
    assert_same_image_exactly(volume_node_to_sitk(node), other_type)


# --- seeds ------------------------------------------------------------------------------------


def test_roi_seed_gives_center_in_lps_and_diameters_from_radii(app):
    roi = add_roi(app.scene, (10.0, -5.0, 3.0), (6.0, 7.0, 8.0))
    spec = lesion_spec_from_seed_node(roi, random_seed=4, composition=Composition(irregularity=0))
    assert spec.center_lps == pytest.approx((-10.0, 5.0, 3.0))
    assert spec.diameters_mm == pytest.approx((12.0, 14.0, 16.0))
    assert spec.orientation_deg == (0.0, 0.0, 0.0)
    assert spec.random_seed == 4 and spec.composition.irregularity == 0
    with pytest.raises(SynthPathologyError, match="give no diameter"):
        lesion_spec_from_seed_node(roi, diameter_mm=20)


def test_seed_under_a_transform_is_read_in_world_coordinates(app):
    roi = add_roi(app.scene, (10.0, -5.0, 3.0), (6.0, 6.0, 6.0))
    roi.SetAndObserveTransformNodeID(add_translation(app.scene, (4.0, 2.0, -1.0)).GetID())
    assert lesion_spec_from_seed_node(roi).center_lps == pytest.approx((-14.0, 3.0, 2.0))


def test_rotated_roi_gives_lesion_axes_along_the_roi_axes(app):
    axes_ras = rotation(10, 20, 35)  # columns: the ROI's axes in RAS
    spec = lesion_spec_from_seed_node(add_roi(app.scene, (0, 0, 0), (5, 9, 12), axes_ras))
    flip = np.diag([-1.0, -1.0, 1.0])
    # Each lesion axis (LPS) is the matching ROI axis converted to LPS, up to its sign.
    cosines = np.abs(np.sum(spec.rotation() * (flip @ axes_ras), axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-9)
    assert spec.diameters_mm == pytest.approx((10.0, 18.0, 24.0))


@pytest.mark.parametrize("angles", [(10, 20, 35), (-170, 60, 120), (30, 90, 0), (0, -90, 45), (0, 0, 0)])
def test_euler_angles_reproduce_the_rotation(angles):
    np.testing.assert_allclose(rotation(*_euler_xyz_deg(rotation(*angles))), rotation(*angles), atol=1e-9)


def test_point_seed_needs_a_diameter(app):
    points = app.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "P")
    points.AddControlPoint(4.0, 6.0, -2.0)
    spec = lesion_spec_from_seed_node(points, diameter_mm=20)
    assert spec.center_lps == pytest.approx((-4.0, -6.0, -2.0))
    assert spec.diameters_mm == (20.0, 20.0, 20.0)
    with pytest.raises(SynthPathologyError, match="diameter"):
        lesion_spec_from_seed_node(points)
    points.AddControlPoint(1.0, 1.0, 1.0)
    with pytest.raises(SynthPathologyError, match="2 points"):
        lesion_spec_from_seed_node(points, diameter_mm=20)


@pytest.mark.parametrize("class_name", ["vtkMRMLMarkupsFiducialNode", "vtkMRMLMarkupsROINode"])
def test_seed_without_control_point_is_refused(app, class_name):
    with pytest.raises(SynthPathologyError, match="no control point"):
        lesion_spec_from_seed_node(app.scene.AddNewNodeByClass(class_name, "Empty"))


def test_other_node_kinds_are_refused_as_seeds(app):
    with pytest.raises(SynthPathologyError, match="ROI or point list"):
        lesion_spec_from_seed_node(app.scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", "Line"))


# --- lesion in the scene ------------------------------------------------------------------------


def test_roi_lesion_core_is_centred_on_the_roi(app, volumes, oblique_brain):
    p = np.array([8.0, -6.0, 4.0])  # RAS mm
    result = lesion_in_scene(app.scene, volumes, add_roi(app.scene, p, (9.0, 8.0, 10.0)), random_seed=3)

    label = segmentation_node_to_label(result.segmentation_node, oblique_brain)
    assert np.array_equal(voxels(label), voxels(result.label))
    assert np.linalg.norm(lps_to_ras(core_centroid_lps(label)) - p) < 3.0
    assert np.isin(voxels(label), CORE).sum() > 100


def test_segmentation_has_the_input_grid_and_the_pathology_segments(app, volumes, oblique_brain):
    seed = add_roi(app.scene, (0.0, 0.0, 0.0), (8.0, 8.0, 8.0))
    segmentation_node = lesion_in_scene(app.scene, volumes, seed).segmentation_node

    segmentation = segmentation_node.GetSegmentation()
    segments = [segmentation.GetNthSegment(i) for i in range(segmentation.GetNumberOfSegments())]
    segment_ids = [segmentation.GetNthSegmentID(i) for i in range(len(segments))]
    assert segment_ids == [label.abbreviation for label in GLIOMA.labels]
    assert [s.GetName() for s in segments] == [label.name for label in GLIOMA.labels]
    for segment, label in zip(segments, GLIOMA.labels):
        assert segment.GetColor() == pytest.approx(label.color)

    layer = segments[0].GetRepresentation("Binary labelmap")
    image_to_world = vtkMatrix4x4()
    layer.GetImageToWorldMatrix(image_to_world)
    np.testing.assert_allclose(matrix_array(image_to_world), ijk_to_ras_matrix(oblique_brain), atol=1e-12)
    # The layer holds the lesion's box of the input grid; the reference geometry is the whole grid.
    extent = layer.GetExtent()
    assert extent != (0, 39, 0, 39, 0, 39) and all(0 <= lo <= hi <= 39 for lo, hi in zip(extent[::2], extent[1::2]))
    reference = slicer.vtkOrientedImageData()
    converter = slicer.vtkSegmentationConverter
    converter.DeserializeImageGeometry(
        segmentation.GetConversionParameter(converter.GetReferenceImageGeometryParameterName()), reference, False
    )
    assert reference.GetExtent() == (0, 39, 0, 39, 0, 39)
    assert segmentation_node.GetAttribute(ROLE_ATTRIBUTE) == LESION_ROLE


def test_overlay_is_set_in_every_slice_view(app, volumes, oblique_brain):
    synthetic = sitk_to_volume_node(app.scene, oblique_brain + 10, "T1 synthetic")
    composites = show_overlay(app.scene, volumes["t1"], synthetic, opacity=0.3)

    assert sorted(c.GetLayoutName() for c in composites) == ["Green", "Red", "Yellow"]
    for composite in composites:
        assert composite.GetBackgroundVolumeID() == volumes["t1"].GetID()
        assert composite.GetForegroundVolumeID() == synthetic.GetID()
        assert composite.GetForegroundOpacity() == pytest.approx(0.3)
    assert len(ensure_slice_views(app.scene)) == 3  # views are created once
    with pytest.raises(SynthPathologyError, match="opacity"):
        show_overlay(app.scene, volumes["t1"], synthetic, opacity=1.5)


def run_once(app, volumes, seed, brain: sitk.Image):
    """A stand-in for a synthesis run: lesion, a synthetic T1 with the role's node, the overlay."""
    result = lesion_in_scene(app.scene, volumes, seed, random_seed=1)
    synthetic = sitk.Cast(brain + sitk.Cast(result.label, sitk.sitkInt16) * 100, sitk.sitkInt16)
    node = sitk_to_role_volume_node(app.scene, synthetic, synthetic_role("t1"), "T1 synthetic")
    show_overlay(app.scene, volumes["t1"], node, opacity=0.6)
    return result, node


def test_rerun_replaces_outputs_instead_of_adding_nodes(app, volumes, oblique_brain):
    seed = add_roi(app.scene, (5.0, 0.0, 0.0), (8.0, 8.0, 8.0))
    first, synthetic = run_once(app, volumes, seed, oblique_brain)
    counts = node_counts(app.scene)

    seed.SetCenter(-8.0, 4.0, 2.0)
    second, synthetic_again = run_once(app, volumes, seed, oblique_brain)
    assert node_counts(app.scene) == counts
    assert second.segmentation_node is first.segmentation_node and synthetic_again is synthetic
    assert find_role_node(app.scene, LESION_ROLE) is first.segmentation_node
    label = segmentation_node_to_label(second.segmentation_node, oblique_brain)
    assert np.linalg.norm(np.subtract(lps_to_ras(core_centroid_lps(label)), (-8.0, 4.0, 2.0))) < 3.0


def test_scene_bundle_keeps_the_results(app, volumes, oblique_brain, tmp_path):
    seed = add_roi(app.scene, (0.0, 5.0, -3.0), (8.0, 8.0, 8.0))
    result, synthetic = run_once(app, volumes, seed, oblique_brain)
    expected_synthetic = volume_node_to_sitk(synthetic)
    path = save_scene_bundle(app.scene, tmp_path / "scene.mrb")

    reopened = create_headless_scene()
    load_scene_bundle(reopened.scene, path)
    segmentation_node = find_role_node(reopened.scene, LESION_ROLE, "vtkMRMLSegmentationNode")
    synthetic_node = find_role_node(reopened.scene, synthetic_role("t1"), "vtkMRMLScalarVolumeNode")
    assert segmentation_node is not None and synthetic_node is not None
    label = segmentation_node_to_label(segmentation_node, oblique_brain)
    assert np.array_equal(voxels(label), voxels(result.label))
    reloaded = volume_node_to_sitk(synthetic_node)
    assert same_grid(reloaded, expected_synthetic, tolerance=1e-6)
    assert np.array_equal(voxels(reloaded), voxels(expected_synthetic))
    seed_again = reopened.scene.GetFirstNodeByName("Seed")
    assert lesion_spec_from_seed_node(seed_again).center_lps == pytest.approx(result.spec.center_lps)
    composite = reopened.scene.GetNodeByID("vtkMRMLSliceCompositeNodeRed")
    assert composite.GetForegroundVolumeID() == synthetic_node.GetID()
    assert composite.GetForegroundOpacity() == pytest.approx(0.6)


def test_result_saved_as_brats_case_with_provenance(app, volumes, oblique_brain, tmp_path):
    seed = add_roi(app.scene, (0.0, 0.0, 0.0), (8.0, 8.0, 8.0))
    result = lesion_in_scene(app.scene, volumes, seed)
    provenance = {"spec": result.spec.to_dict(), "model": None}
    folder = save_brats_case_from_scene(
        tmp_path / "Synth-001", volumes, result.segmentation_node, provenance=provenance
    )

    case = read_brats_case(folder, contrasts=("t1", "t2"), require_label=True)
    assert case.case_id == "Synth-001"
    assert same_grid(case.images["t1"], oblique_brain, tolerance=1e-5)
    assert np.array_equal(voxels(case.images["t1"]), voxels(oblique_brain))
    assert np.array_equal(voxels(case.label), voxels(result.label))
    assert json.loads((folder / "provenance.json").read_text()) == json.loads(json.dumps(provenance))


# --- existing lesions and errors ------------------------------------------------------------------


def test_a_users_segmentation_is_read_by_segment_names(app, oblique_brain):
    label = np.zeros((40, 40, 40), np.uint8)
    label[18:22, 17:22, 18:24] = 3
    label[19:21, 19:21, 19:22] = 1
    # Loaded the way a user brings a lesion: a label map volume imported by Slicer's logic, with
    # segments then named by hand (other IDs, other letter case).
    labelmap_node = sitk_to_volume_node(app.scene, on_grid(label, oblique_brain), "drawn", label_map=True)
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Drawn lesion")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap_node, node)
    segmentation = node.GetSegmentation()
    names = {3: "Enhancing Tumor", 1: "ncr"}
    for i in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(i)
        segment.SetName(names[segment.GetLabelValue()])
    assert np.array_equal(voxels(segmentation_node_to_label(node, oblique_brain)), label)

    segmentation.AddEmptySegment("Segment_7", "Tumor?")
    with pytest.raises(CaseError, match="Segment_7"):
        segmentation_node_to_label(node, oblique_brain)


def test_label_values_outside_the_pathology_are_refused(app, oblique_brain):
    label = np.zeros((40, 40, 40), np.uint8)
    label[20, 20, 20] = 5
    with pytest.raises(CaseError, match=r"\[5\]"):
        label_to_segmentation_node(app.scene, on_grid(label, oblique_brain))


def test_non_scalar_volume_nodes_are_refused(app):
    vector = app.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "RGB")
    with pytest.raises(SynthPathologyError, match="scalar volume node"):
        volume_node_to_sitk(vector)
    with pytest.raises(SynthPathologyError, match="scalar volume node"):
        volume_node_to_sitk(app.scene.AddNewNodeByClass("vtkMRMLModelNode", "Model"))
    with pytest.raises(SynthPathologyError, match="no voxels"):
        volume_node_to_sitk(app.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty"))


def test_transformed_volume_node_is_refused(app, volumes):
    volumes["t1"].SetAndObserveTransformNodeID(add_translation(app.scene, (5.0, 0.0, 0.0)).GetID())
    with pytest.raises(SynthPathologyError, match="harden"):
        volume_node_to_sitk(volumes["t1"])


def test_volumes_on_different_grids_are_refused(app, volumes):
    shifted = brain_image()
    shifted.SetOrigin((5.0, 0.0, 0.0))
    other = sitk_to_volume_node(app.scene, shifted, "Shifted T2")
    with pytest.raises(GridMismatchError, match="Shifted T2"):
        volume_nodes_to_case({"t1": volumes["t1"], "t2": other})
    seed = add_roi(app.scene, (0.0, 0.0, 0.0), (8.0, 8.0, 8.0))
    with pytest.raises(GridMismatchError):
        lesion_in_scene(app.scene, {"t1": volumes["t1"], "t2": other}, seed)
