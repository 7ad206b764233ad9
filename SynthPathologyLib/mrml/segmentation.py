"""Lesion label maps (SimpleITK) <-> segmentation nodes.

A label map becomes one segmentation node with one segment per label value of its pathology
(segment ID = the label's abbreviation, name and color from the pathology), all segments sharing
one binary-labelmap layer on the label map's exact grid. The reverse direction reads any
segmentation whose segments are named after the pathology's labels (an earlier result, or a lesion
the user drew or loaded) onto a reference grid.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import slicer
from vtkmodules.util import numpy_support

from ..core.errors import CaseError, SynthPathologyError
from ..core.image_io import copy_geometry
from ..core.labels import check_label
from ..core.voxel_box import bounding_box
from ..pathologies import LabelInfo, get_pathology
from .volumes import ras_geometry, vtk_scalars

BINARY_LABELMAP = "Binary labelmap"  # vtkSegmentationConverter's representation name


def _oriented_image(image: sitk.Image, array: np.ndarray | None = None,
                    box: tuple[slice, ...] | None = None) -> slicer.vtkOrientedImageData:
    """A vtkOrientedImageData on ``image``'s grid (geometry in RAS): with ``box`` (z, y, x slices)
    only that part of the grid (its extent), holding a copy of ``array`` (the box's voxels,
    z, y, x), or no voxels when ``array`` is None (a geometry-only reference)."""
    directions, spacing, origin = ras_geometry(image)
    oriented = slicer.vtkOrientedImageData()
    oriented.SetDirections(directions)
    oriented.SetSpacing(*spacing)
    oriented.SetOrigin(*origin)
    box = box or tuple(slice(0, n) for n in image.GetSize()[::-1])
    extent = [bound for cut in reversed(box) for bound in (cut.start, cut.stop - 1)]
    oriented.SetExtent(*extent)
    if array is not None:
        oriented.GetPointData().SetScalars(vtk_scalars(array))
    return oriented


def label_to_segmentation_node(
    scene, label: sitk.Image, *, pathology: str = "glioma", name: str = "Lesion", node=None
):
    """Show a lesion label map as a segmentation node.

    Args:
        scene: the MRML scene.
        label: label map (the pathology's values, 0 = background), LPS geometry.
        pathology: registered pathology whose labels name and color the segments.
        name: name of a new node (a reused ``node`` keeps its name).
        node: a segmentation node to reuse: its segments are replaced.

    Returns:
        The segmentation node: one segment per pathology label, in the pathology's order (IDs
        the abbreviations, e.g. "NCR", "ED", "ET"; absent labels give empty segments), with the
        label map's grid as reference geometry.

    Raises:
        CaseError: ``label`` holds values outside the pathology's labels.
    """
    info = get_pathology(pathology)
    check_label(label, info, "lesion label map")
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    elif not node.IsA("vtkMRMLSegmentationNode"):
        raise SynthPathologyError(f"cannot put a label map in {node.GetClassName()} {node.GetName()!r}")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()

    voxels = sitk.GetArrayViewFromImage(label)
    # The layer covers the lesion's box only (Slicer's effective extent): a whole 1 mm grid is
    # copied, converted and resliced for every view on every update otherwise.
    box = bounding_box(voxels) if voxels.any() else (slice(0, 1),) * 3
    layer = _oriented_image(label, voxels[box].astype(np.uint8), box)
    reference = _oriented_image(label)
    segmentation = node.GetSegmentation()
    was_modifying = node.StartModify()  # one update of views for the whole replacement
    segmentation.RemoveAllSegments()
    segmentation.SetSourceRepresentationName(BINARY_LABELMAP)
    segmentation.SetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(),
        slicer.vtkSegmentationConverter.SerializeImageGeometry(reference),
    )
    for label_info in info.labels:
        segment = slicer.vtkSegment()
        segment.SetName(label_info.name)
        segment.SetColor(*label_info.color)
        segment.SetLabelValue(label_info.value)
        segment.AddRepresentation(BINARY_LABELMAP, layer)  # every segment shares this one layer
        segmentation.AddSegment(segment, label_info.abbreviation)
    node.EndModify(was_modifying)
    return node


def segmentation_node_to_label(node, reference: sitk.Image, *, pathology: str = "glioma") -> sitk.Image:
    """A segmentation node as a uint8 label map on ``reference``'s grid (nearest neighbour).

    Each segment's value is the pathology label whose abbreviation or name equals the segment's
    ID or name (case-insensitive); where segments overlap, the higher label value wins.
    Segments in another representation (e.g. closed surface) are converted to binary labelmaps.

    Raises:
        SynthPathologyError: ``node`` is not a segmentation node.
        CaseError: a segment matches no label of the pathology.
    """
    if node is None or not node.IsA("vtkMRMLSegmentationNode"):
        kind = node.GetClassName() if node is not None else "nothing"
        raise SynthPathologyError(f"expected a segmentation node, got {kind}")
    info = get_pathology(pathology)
    segmentation = node.GetSegmentation()
    segment_ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    values = {i: _label_of(segmentation.GetSegment(i), i, info.labels) for i in segment_ids}
    unknown = [segment_id for segment_id, value in values.items() if value is None]
    if unknown:
        expected = ", ".join(f"{label.abbreviation} ({label.name})" for label in info.labels)
        raise CaseError(
            f"segmentation {node.GetName()!r}: segments {unknown} are not {info.name} labels; "
            f"name each segment after one of: {expected}"
        )
    if segment_ids and not segmentation.ContainsRepresentation(BINARY_LABELMAP):
        segmentation.CreateRepresentation(BINARY_LABELMAP)

    logic = slicer.vtkSlicerSegmentationsModuleLogic
    reference_geometry = _oriented_image(reference)
    result = np.zeros(sitk.GetArrayViewFromImage(reference).shape, np.uint8)
    for segment_id in sorted(segment_ids, key=values.get):
        segment_image = slicer.vtkOrientedImageData()
        logic.GetSegmentBinaryLabelmapRepresentation(node, segment_id, segment_image)
        if segment_image.IsEmpty():
            continue
        resampled = slicer.vtkOrientedImageData()
        slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            segment_image, reference_geometry, resampled
        )
        array = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars()).reshape(result.shape)
        # Segments share labelmap layers: a segment's voxels are those holding its label value.
        result[array == segmentation.GetSegment(segment_id).GetLabelValue()] = values[segment_id]
    return copy_geometry(result, reference)


def _label_of(segment, segment_id: str, labels: tuple[LabelInfo, ...]) -> int | None:
    """The value of the label named by the segment's ID or name, or None."""
    names = {segment_id.strip().lower(), segment.GetName().strip().lower()}
    for label in labels:
        if names & {label.abbreviation.lower(), label.name.lower()}:
            return label.value
    return None
