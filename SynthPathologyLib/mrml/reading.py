"""Blinded reading in a Slicer scene: one Turing-test case at a time, the same way for every case.

A reader must judge the image and nothing else, so every case is shown identically: volume nodes
named only after their contrast ("FLAIR"), grey color map, the package's fixed intensity window
(every package image is scaled to it), the same contrast in every slice view, each view centred on
the volume with the same field of view, no foreground, no label. The previous case's nodes are
removed before the next one is loaded, so nothing of one case lingers into the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import SynthPathologyError
from ..pathologies import contrast_title
from ..turing.study_package import StudyPackage
from .scene import ROLE_ATTRIBUTE, ensure_slice_views, nodes_of_class
from .volumes import load_volume_node

READING_ROLE_PREFIX = "reading:"
"""Roles of the nodes of the case being read: "reading:<contrast>"."""

GREY_COLOR_NODE_ID = "vtkMRMLColorTableNodeGrey"


@dataclass
class BlindedCase:
    """The case on screen.

    Attributes:
        case_id: the package's anonymous case id.
        volume_nodes: contrast -> volume node, named by :func:`~SynthPathologyLib.pathologies.contrast_title` only.
        shown_contrast: the contrast in the slice views.
    """

    case_id: str
    volume_nodes: dict[str, object]
    shown_contrast: str


def show_blinded_case(
    scene, package: StudyPackage, case_id: str, *, contrast: str | None = None
) -> BlindedCase:
    """Replace the case being read by ``case_id`` and show it in the standardized display.

    Args:
        scene: the MRML scene (desktop Slicer's, trame-slicer's or a headless one).
        package: the opened study package (manifest and paths already checked).
        case_id: an anonymous case id of the package.
        contrast: contrast to show first; default: FLAIR if the package has it, else the first one.

    Returns:
        The :class:`BlindedCase` now shown.

    Raises:
        SessionError: an unknown case id.
        ImageFileError: a case file Slicer cannot read (the previous case is gone either way).
        SynthPathologyError: a contrast the package does not have.
    """
    contrasts = package.manifest.contrasts
    shown = contrast or ("flair" if "flair" in contrasts else contrasts[0])
    if shown not in contrasts:
        raise SynthPathologyError(f"contrast {shown!r} is not in this study (it has {', '.join(contrasts)})")
    files = package.case_files(case_id)
    clear_reading_nodes(scene)
    low, high = package.manifest.intensity_range
    nodes = {}
    for name in contrasts:
        node = load_volume_node(scene, files[name], contrast_title(name))
        node.SetAttribute(ROLE_ATTRIBUTE, READING_ROLE_PREFIX + name)
        display = node.GetDisplayNode()
        display.SetAndObserveColorNodeID(GREY_COLOR_NODE_ID)
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(low, high)
        nodes[name] = node
    case = BlindedCase(case_id, nodes, shown)
    show_reading_contrast(scene, case, shown)
    return case


def show_reading_contrast(scene, case: BlindedCase, contrast: str) -> None:
    """Show one contrast of the case in every slice view, alone, centred, at a fixed field of view
    (the volume's largest extent in mm, the same rule for every case)."""
    if contrast not in case.volume_nodes:
        raise SynthPathologyError(f"contrast {contrast!r} is not in this case")
    node = case.volume_nodes[contrast]
    center, extent = _center_and_extent_ras(node)
    for composite in ensure_slice_views(scene):
        composite.SetBackgroundVolumeID(node.GetID())
        composite.SetForegroundVolumeID(None)
        composite.SetLabelVolumeID(None)
        slice_node = scene.GetNodeByID(f"vtkMRMLSliceNode{composite.GetLayoutName()}")
        if slice_node is not None:
            slice_node.JumpSliceByCentering(*center)
            slice_node.SetFieldOfView(extent, extent, slice_node.GetFieldOfView()[2])
    case.shown_contrast = contrast


def clear_reading_nodes(scene) -> int:
    """Remove the nodes of the case being read (and their display and storage nodes); returns how
    many volume nodes were removed."""
    reading = [
        node for node in nodes_of_class(scene, "vtkMRMLScalarVolumeNode")
        if (node.GetAttribute(ROLE_ATTRIBUTE) or "").startswith(READING_ROLE_PREFIX)
    ]
    for node in reading:
        attached = [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
        attached.append(node.GetStorageNode())
        for other in attached:
            if other is not None:
                scene.RemoveNode(other)
        scene.RemoveNode(node)
    return len(reading)


def _center_and_extent_ras(node) -> tuple[tuple[float, float, float], float]:
    """Centre (RAS mm) of the volume's bounding box and its largest side (mm)."""
    bounds = np.zeros(6)
    node.GetRASBounds(bounds)
    low, high = bounds[0::2], bounds[1::2]
    return tuple(float(v) for v in (low + high) / 2), float(np.max(high - low))
