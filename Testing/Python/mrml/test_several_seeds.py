"""Several seeds and other pathologies in a real slicer-core scene, as the Slicer module and the
browser app ask for them: a point list with two points paints two multiple-sclerosis plaques (a
tiny untrained MS model), one at each point, with MS labels, and changes no voxel outside their
synthesis regions; seeds of several nodes each get their own shape; a model refuses a pathology it
was not trained for in one line, leaving the scene as it was."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.models import save_tiny_model
from helpers.mrml import add_roi, load_case_into_scene, node_counts, seed_ras, voxels
from scipy import ndimage

from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.core.image_io import lps_to_ras
from SynthPathologyLib.lesions.spec import Composition
from SynthPathologyLib.mrml import create_headless_scene, lesion_specs_from_seed_nodes, synthesize_in_scene
from SynthPathologyLib.mrml.segmentation import segmentation_node_to_label
from SynthPathologyLib.mrml.volumes import volume_node_to_sitk
from SynthPathologyLib.pathologies import get_pathology

MS = get_pathology("ms")
PLAQUE_MM = 8.0
# The tiny model's synthesis region is the lesion grown by its 4 mm margin; a 2 mm voxel more for
# the distance map's steps.
REGION_REACH_MM = 4.0 + 2.0


@pytest.fixture
def app():
    return create_headless_scene()


@pytest.fixture(scope="module")
def ms_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny_ms", pathology="ms")


def _two_points(scene, case):
    """A point list with a point in each hemisphere's white matter (24 mm apart, R-L); their RAS."""
    left = seed_ras(case)
    right = left + np.array([24.0, 0.0, 0.0])
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Lesion seeds")
    for point in (left, right):
        points.AddControlPoint(*point)
    return points, [left, right]


def test_two_points_give_two_ms_lesions_at_them_and_nothing_else_changes(app, healthy_case, ms_model):
    volumes = load_case_into_scene(app.scene, healthy_case)
    points, centers = _two_points(app.scene, healthy_case)
    result = synthesize_in_scene(app.scene, volumes, points, "ms", 5, ms_model, diameter_mm=PLAQUE_MM,
                                 composition=Composition.for_pathology("ms", enhancing=True))

    label = voxels(result.label)
    assert set(np.unique(label)) - {0} <= set(MS.label_values) and label.any()
    shown = segmentation_node_to_label(result.segmentation_node, healthy_case.reference, pathology="ms")
    assert np.array_equal(voxels(shown), label)
    segmentation = result.segmentation_node.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())] == \
        [info.name for info in MS.labels]

    components, count = ndimage.label(label > 0)
    assert count == 2
    reference = healthy_case.reference
    found = []
    for index in range(1, 3):
        centroid = ndimage.center_of_mass(components == index)[::-1]  # x, y, z
        found.append(lps_to_ras(reference.TransformContinuousIndexToPhysicalPoint([float(v) for v in centroid])))
    for center in centers:  # each point has its plaque (white matter may shift it a little)
        assert min(np.linalg.norm(np.subtract(f, center)) for f in found) < 2 * 2.0

    records = result.provenance["lesions"]
    assert len(records) == 2 and len(result.specs) == 2
    for record, center in zip(records, centers):
        assert record["lesion"]["pathology"] == "ms"
        np.testing.assert_allclose(lps_to_ras(record["lesion"]["center_lps"]), center, atol=1e-6)
    assert records[0]["lesion"]["random_seed"] == 5 != records[1]["lesion"]["random_seed"]

    distance_mm = ndimage.distance_transform_edt(label == 0, sampling=reference.GetSpacing()[::-1])
    for contrast, node in result.volume_nodes.items():
        changed = voxels(volume_node_to_sitk(node)) != voxels(healthy_case.images[contrast])
        assert changed.any() and distance_mm[changed].max() <= REGION_REACH_MM, contrast


def test_each_seed_of_several_nodes_is_a_lesion_with_its_own_shape(app, healthy_case):
    points, centers = _two_points(app.scene, healthy_case)
    roi = add_roi(app.scene, seed_ras(healthy_case) + [0.0, 0.0, 20.0], (5.0, 6.0, 7.0))
    specs = lesion_specs_from_seed_nodes([roi, points], diameter_mm=PLAQUE_MM, random_seed=3, pathology="ms")
    assert [s.diameters_mm for s in specs] == [(10.0, 12.0, 14.0), (PLAQUE_MM,) * 3, (PLAQUE_MM,) * 3]
    np.testing.assert_allclose([lps_to_ras(s.center_lps) for s in specs[1:]], centers)
    seeds = [s.random_seed for s in specs]
    assert seeds[0] == 3 and len(set(seeds)) == 3  # the first keeps the request's: one seed, as before
    assert seeds == [s.random_seed for s in lesion_specs_from_seed_nodes([roi, points], diameter_mm=PLAQUE_MM,
                                                                         random_seed=3)]
    with pytest.raises(SynthPathologyError, match="no seed"):
        lesion_specs_from_seed_nodes([])


def test_a_model_refuses_another_pathology_in_one_line_and_the_scene_is_unchanged(app, healthy_case, ms_model):
    volumes = load_case_into_scene(app.scene, healthy_case)
    points, _ = _two_points(app.scene, healthy_case)
    before = node_counts(app.scene)
    with pytest.raises(SynthPathologyError) as refused:
        synthesize_in_scene(app.scene, volumes, points, "glioma", model=ms_model, diameter_mm=PLAQUE_MM)
    message = str(refused.value)
    assert "is for pathology 'ms', not 'glioma'" in message and "\n" not in message
    assert node_counts(app.scene) == before
    with pytest.raises(SynthPathologyError, match="unknown pathology 'cancer'"):
        synthesize_in_scene(app.scene, volumes, points, "cancer", model=ms_model, diameter_mm=PLAQUE_MM)
