"""The case being worked on, as nodes of the app's MRML scene.

A :class:`~SynthPathologyLib.core.case.Case` (the default brain, a BraTS folder given on the command
line, or an upload) becomes one scalar volume node per contrast, a brain-mask label map node when
the case has a mask, and a segmentation node for the case's own lesion when it has a label (what
"remove lesion" inpaints). Loading another case removes the previous one and its results.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.case import Case
from ..mrml import case_to_volume_nodes, sitk_to_volume_node
from ..mrml.lesion import LESION_ROLE, synthetic_role
from ..mrml.scene import find_role_node
from ..mrml.segmentation import label_to_segmentation_node
from ..pathologies import get_pathology


@dataclass
class CaseNodes:
    """Nodes of the case on screen.

    Attributes:
        case_id: the case's name (file prefix of downloads).
        volume_nodes: contrast -> scalar volume node ("t1", "t1c", "t2", "flair").
        brain_mask_node: label map volume node of the brain mask, or None (then the non-zero voxels).
        lesion_node: segmentation node of the case's own lesion, or None when it has no label.
    """

    case_id: str
    volume_nodes: dict[str, object]
    brain_mask_node: object | None = None
    lesion_node: object | None = None

    def nodes(self) -> list:
        return [*self.volume_nodes.values(), self.brain_mask_node, self.lesion_node]


def put_case_in_scene(scene, case: Case, previous: CaseNodes | None = None) -> CaseNodes:
    """Replace ``previous`` (and every synthesis result) by ``case``'s nodes.

    Volume nodes are named "<case id> <contrast title>"; a label with lesion voxels becomes the
    segmentation node "<case id> lesion" with the pathology's segments.
    """
    remove_case_from_scene(scene, previous)
    volume_nodes = case_to_volume_nodes(scene, case)
    mask_node = None
    if case.brain_mask is not None:
        mask_node = sitk_to_volume_node(scene, case.brain_mask, f"{case.case_id} brain mask", label_map=True)
        mask_node.GetDisplayNode().SetVisibility(False)
    lesion_node = None
    if case.label is not None and case.label_volumes_ml():
        lesion_node = label_to_segmentation_node(
            scene, case.label, pathology=case.pathology, name=f"{case.case_id} lesion"
        )
    return CaseNodes(case.case_id, volume_nodes, mask_node, lesion_node)


def remove_case_from_scene(scene, nodes: CaseNodes | None) -> None:
    """Remove a case's nodes and the synthesis outputs (synthetic volumes, lesion segmentation)."""
    outputs = [find_role_node(scene, LESION_ROLE)]
    outputs += [find_role_node(scene, synthetic_role(c)) for c in get_pathology("glioma").contrasts]
    for node in [*(nodes.nodes() if nodes else []), *outputs]:
        if node is not None:
            scene.RemoveNode(node)
