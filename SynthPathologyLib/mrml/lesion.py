"""Lesions in a Slicer scene: seed node -> LesionSpec, volume nodes -> Case, the lesion drawn as a
segmentation node, and a result saved as a BraTS case folder.

Seeds are Markups nodes, in RAS: an ROI ("place and scale": its centre is the seed, its box
circumscribes the tumor core, its rotation is the lesion's) or a point list plus a diameter: one
lesion per point (:func:`lesion_specs_from_seed_nodes`, several lesions in one case). Outputs
carry roles (see :mod:`SynthPathologyLib.mrml.scene`) so a rerun replaces them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.case import Case
from ..core.durable import atomic_write_bytes
from ..core.errors import SynthPathologyError
from ..core.image_io import ras_to_lps
from ..io.brats import write_brats_case
from ..lesions.placement import generate_lesion
from ..lesions.spec import Composition, LesionSpec
from ..pathologies import contrast_title
from .scene import role_node
from .segmentation import label_to_segmentation_node, segmentation_node_to_label
from .volumes import RAS_FROM_LPS, sitk_to_volume_node, volume_node_to_sitk

LESION_ROLE = "lesion"
"""Role of the segmentation node that shows the lesion label map."""


def synthetic_role(contrast: str) -> str:
    """Role of the volume node holding the synthetic image of ``contrast``, e.g. "synthetic:t1"."""
    return f"synthetic:{contrast}"


@dataclass
class SceneResult:
    """What one run put in the scene.

    Attributes:
        segmentation_node: the lesion, one segment per label (role :data:`LESION_ROLE`).
        spec: the lesion request the (first) seed gave (center in LPS mm); None for a lesion removal.
        label: the lesion label map, every lesion painted, on the input volumes' grid (empty after
            a removal).
        volume_nodes: contrast -> synthetic volume node (roles from :func:`synthetic_role`); empty
            when only the lesion was drawn.
        provenance: JSON-ready record of the synthesis (spec, seed, model id and hash, version);
            empty when only the lesion was drawn.
        specs: every lesion request, one per seed (``spec`` is the first); empty for a removal.
    """

    segmentation_node: object
    spec: LesionSpec | None
    label: sitk.Image
    volume_nodes: dict[str, object] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    specs: list[LesionSpec] = field(default_factory=list)


def describe_provenance(provenance: Mapping) -> str:
    """One line for people about a synthesis or removal: what was done (how many lesions), from
    which contrasts, with which random seed, library lesion, mass effect, model and device."""
    count = len(provenance.get("lesions", ())) or 1
    synthesized = "Lesion synthesized" if count == 1 else f"{count} lesions synthesized"
    done = synthesized if provenance["operation"] == "insert" else "Lesion replaced by pseudo-healthy tissue"
    used = ", ".join(contrast_title(c) for c in provenance["contrasts"])
    lesion = provenance.get("lesion")  # a dict for an insertion, a text for a removal
    library = lesion.get("library") if isinstance(lesion, dict) else None
    shape = f", library lesion {library['source']}" if library else ""
    pushed = f", mass effect {provenance['mass_effect']['displacement_mm']:g} mm" if "mass_effect" in provenance else ""
    return (f"{done} from {used} (random seed {provenance['random_seed']}{shape}{pushed}, "
            f"model {provenance['model_id']}, {provenance['device']}).")


def lesion_segmentation_node(scene):
    """The scene's lesion segmentation node (role :data:`LESION_ROLE`), created on first use."""
    return role_node(scene, LESION_ROLE, "vtkMRMLSegmentationNode", "Lesion")


def lesion_spec_from_seed_node(
    seed_node,
    *,
    diameter_mm: float | None = None,
    composition: Composition = Composition(),
    random_seed: int = 0,
    pathology: str = "glioma",
) -> LesionSpec:
    """The lesion a Markups seed asks for.

    - ROI node (vtkMRMLMarkupsROINode): the centre is the seed; the core's diameters along the
      ROI's axes are twice its radii (the box circumscribes the core); a rotated ROI gives
      ``orientation_deg``. World coordinates are used, so parent transforms apply.
    - Point list (vtkMRMLMarkupsFiducialNode) with exactly one point: the point is the seed and
      ``diameter_mm`` (required) the core's diameter along every axis.

    Args:
        seed_node: the Markups node.
        diameter_mm: core diameter (mm) of a point seed; None for an ROI, which has a size.
        composition, random_seed, pathology: passed to :class:`LesionSpec`.

    Raises:
        SynthPathologyError: another kind of node, no placed control point, several points, a
            point without (or an ROI with) a diameter, a non-positive diameter.
    """
    specs = lesion_specs_from_seed_nodes(seed_node, diameter_mm=diameter_mm, composition=composition,
                                         random_seed=random_seed, pathology=pathology)
    if len(specs) > 1:
        raise SynthPathologyError(f"seed {seed_node.GetName()!r} has {len(specs)} points; keep one (the lesion centre)")
    return specs[0]


def lesion_specs_from_seed_nodes(seed_nodes, *, diameter_mm: float | None = None,
                                 composition: Composition = Composition(), random_seed: int = 0,
                                 pathology: str = "glioma") -> list[LesionSpec]:
    """One lesion request per seed, for several lesions in one case (metastases, MS plaques).

    ``seed_nodes`` is one Markups node or a sequence of them: an ROI gives one lesion (as in
    :func:`lesion_spec_from_seed_node`), a point list one lesion per placed point, each of
    ``diameter_mm`` (required with a point list, refused with ROIs only). Lesion k (in node order, then point order) draws its shape from
    :func:`lesion_random_seed` (``random_seed``, k): the first keeps ``random_seed``, so one seed
    gives exactly the lesion :func:`lesion_spec_from_seed_node` gives, and two seeds of one size
    do not get the same shape.

    Raises:
        SynthPathologyError: no node, or a node :func:`lesion_spec_from_seed_node` refuses (a
            point list may hold several points here).
    """
    nodes = list(seed_nodes) if isinstance(seed_nodes, (list, tuple)) else [seed_nodes]
    if not nodes:
        raise SynthPathologyError("no seed given; place one in a view first")
    if diameter_mm is not None and not diameter_mm > 0:
        raise SynthPathologyError(f"lesion diameter must be > 0 mm, got {diameter_mm}")
    if diameter_mm is not None and all(node is not None and node.IsA("vtkMRMLMarkupsROINode") for node in nodes):
        # The diameter is the points' size: with ROIs only it would be silently unused.
        raise SynthPathologyError(f"seed {nodes[0].GetName()!r} is an ROI: its size sets the lesion's, give no diameter")
    placements = [placement for node in nodes for placement in _seed_placements(node, diameter_mm)]
    return [
        LesionSpec(center_lps=ras_to_lps(center_ras), diameters_mm=tuple(diameters), orientation_deg=orientation_deg,
                   composition=composition, pathology=pathology, random_seed=lesion_random_seed(random_seed, index))
        for index, (center_ras, diameters, orientation_deg) in enumerate(placements)
    ]


def lesion_random_seed(random_seed: int, index: int) -> int:
    """The random seed of the ``index``-th lesion of a request seeded with ``random_seed``: the seed
    itself for the first, a value drawn from both for the others (adding ``index`` would give lesion
    1 of one variant the shape of lesion 0 of the next)."""
    if index == 0:
        return random_seed
    return int(np.random.SeedSequence([random_seed, index]).generate_state(1)[0] % 2**31)  # in the random seeds' range


def _seed_placements(seed_node, diameter_mm: float | None) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """(centre RAS, core diameters, orientation in degrees) of each lesion ``seed_node`` places:
    one for an ROI, one per placed point of a point list."""
    if seed_node is None or not (
        seed_node.IsA("vtkMRMLMarkupsROINode") or seed_node.IsA("vtkMRMLMarkupsFiducialNode")
    ):
        kind = seed_node.GetClassName() if seed_node is not None else "nothing"
        raise SynthPathologyError(f"the seed must be a Markups ROI or point list node, got {kind}")
    name = seed_node.GetName()
    if seed_node.GetNumberOfDefinedControlPoints() == 0:
        raise SynthPathologyError(f"seed {name!r} has no control point; place it in a view first")
    if seed_node.IsA("vtkMRMLMarkupsROINode"):
        center_ras, radius = np.zeros(3), np.zeros(3)
        seed_node.GetCenterWorld(center_ras)
        seed_node.GetRadiusXYZ(radius)
        object_to_world = seed_node.GetObjectToWorldMatrix()
        # Columns: the ROI's axes in world RAS, scaled by any transform.
        axes_ras = np.array([[object_to_world.GetElement(r, c) for c in range(3)] for r in range(3)])
        diameters = 2.0 * radius * np.linalg.norm(axes_ras, axis=0)
        return [(center_ras, diameters, _euler_xyz_deg(RAS_FROM_LPS @ _nearest_rotation(axes_ras) @ RAS_FROM_LPS))]
    if diameter_mm is None:
        raise SynthPathologyError(f"seed {name!r} is a point: give the lesion diameter (mm)")
    return [(center_ras, np.full(3, float(diameter_mm)), (0.0, 0.0, 0.0))
            for center_ras in _defined_points_ras(seed_node)]


def _defined_points_ras(node) -> list[np.ndarray]:
    """World RAS of the node's placed control points (a point being placed is not yet defined)."""
    points = []
    for index in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointPositionStatus(index) == node.PositionDefined:
            point = np.zeros(3)
            node.GetNthControlPointPositionWorld(index, point)
            points.append(point)
    return points


def _nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation closest to ``matrix`` (3, 3): drops scaling and shear of transforms."""
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:  # a mirroring transform: keep a proper rotation
        rotation = u @ np.diag([1.0, 1.0, -1.0]) @ vt
    return rotation


def _euler_xyz_deg(rotation: np.ndarray) -> tuple[float, float, float]:
    """Angles (degrees) about x, then y, then z (extrinsic) with Rz @ Ry @ Rx == ``rotation``: the
    convention of :meth:`LesionSpec.rotation`. An identity gives exactly (0, 0, 0)."""
    ay = np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0))
    if np.isclose(abs(rotation[2, 0]), 1.0):  # gimbal lock: only ax - az (or ax + az) is defined
        ax, az = np.arctan2(-rotation[1, 2], rotation[1, 1]), 0.0
    else:
        ax = np.arctan2(rotation[2, 1], rotation[2, 2])
        az = np.arctan2(rotation[1, 0], rotation[0, 0])
    # Round away float noise so an unrotated ROI gives the unrotated spec (same random shape).
    return tuple(float(v) + 0.0 for v in np.round(np.rad2deg([ax, ay, az]), 9))


def volume_nodes_to_case(
    volume_nodes: Mapping[str, object],
    *,
    segmentation_node=None,
    brain_mask_node=None,
    case_id: str = "case",
    pathology: str = "glioma",
) -> Case:
    """A :class:`Case` from scalar volume nodes (contrast -> node; the first is the reference grid),
    with the segmentation node's lesion as label and a brain mask volume node, if given.

    Raises:
        SynthPathologyError: no volume node, or a node that is not a scalar volume.
        GridMismatchError: volumes on different grids (the error names the nodes).
        CaseError: segments that are not the pathology's labels.
    """
    if not volume_nodes:
        raise SynthPathologyError("no volume node given")
    images = {contrast: volume_node_to_sitk(node) for contrast, node in volume_nodes.items()}
    sources = {contrast: f"volume node {node.GetName()!r}" for contrast, node in volume_nodes.items()}
    reference = next(iter(images.values()))
    label = brain_mask = None
    if segmentation_node is not None:
        label = segmentation_node_to_label(segmentation_node, reference, pathology=pathology)
        sources["label"] = f"segmentation node {segmentation_node.GetName()!r}"
    if brain_mask_node is not None:
        brain_mask = volume_node_to_sitk(brain_mask_node)
        sources["brain_mask"] = f"volume node {brain_mask_node.GetName()!r}"
    return Case(
        images, label=label, brain_mask=brain_mask, case_id=case_id, pathology=pathology, sources=sources
    )


def case_to_volume_nodes(scene, case: Case) -> dict[str, object]:
    """Put a case's contrasts in new scalar volume nodes named "<case id> <contrast title>"
    (e.g. "DefaultBrain FLAIR"); returns contrast -> node. The label and brain mask stay out: show
    a label with :func:`~SynthPathologyLib.mrml.segmentation.label_to_segmentation_node`."""
    return {
        contrast: sitk_to_volume_node(scene, image, f"{case.case_id} {contrast_title(contrast)}")
        for contrast, image in case.images.items()
    }


def lesion_in_scene(
    scene,
    volume_nodes: Mapping[str, object],
    seed_node,
    *,
    diameter_mm: float | None = None,
    composition: Composition = Composition(),
    random_seed: int = 0,
    pathology: str = "glioma",
    brain_mask_node=None,
) -> SceneResult:
    """Draw the lesion a seed asks for as a segmentation node, without synthesizing images.

    The label map is :func:`~SynthPathologyLib.lesions.placement.generate_lesion` on the volumes' grid inside
    the brain mask (``brain_mask_node``, else the voxels non-zero in any volume, as
    :meth:`Case.mask`). The segmentation node with role :data:`LESION_ROLE` is reused if present.

    Args:
        scene: the MRML scene.
        volume_nodes: contrast -> scalar volume node, all on one grid.
        seed_node: Markups ROI or point list (see :func:`lesion_spec_from_seed_node`).
        diameter_mm, composition, random_seed, pathology: see :func:`lesion_spec_from_seed_node`.
        brain_mask_node: optional brain mask volume node on the volumes' grid.

    Raises:
        SynthPathologyError and subclasses: bad seed, volumes or placement (LesionPlacementError).
    """
    spec = lesion_spec_from_seed_node(
        seed_node,
        diameter_mm=diameter_mm,
        composition=composition,
        random_seed=random_seed,
        pathology=pathology,
    )
    case = volume_nodes_to_case(volume_nodes, brain_mask_node=brain_mask_node, pathology=pathology)
    label = generate_lesion(spec, case.reference, case.mask())
    segmentation_node = label_to_segmentation_node(
        scene, label, pathology=pathology, node=lesion_segmentation_node(scene)
    )
    return SceneResult(segmentation_node, spec, label)


def save_brats_case_from_scene(
    folder: str | os.PathLike,
    volume_nodes: Mapping[str, object],
    segmentation_node=None,
    *,
    provenance: Mapping,
    case_id: str | None = None,
    pathology: str = "glioma",
    naming: str = "2023",
) -> Path:
    """Write volume nodes (and the lesion) as a BraTS case folder with ``provenance.json``.

    Args:
        folder: the case folder to write (created; files of the same names are replaced).
        volume_nodes: BraTS contrast ("t1", "t1c", "t2", "flair") -> scalar volume node.
        segmentation_node: the lesion, written as the ``seg`` file on the first volume's grid.
        provenance: JSON-ready dict (spec, random seed, model id and hash, library version...).
        case_id: file name prefix; defaults to the folder's name.
        pathology: pathology of the segment names.
        naming: "2021" or "2023" BraTS file names.

    Returns:
        The case folder.
    """
    folder = Path(folder)
    case = volume_nodes_to_case(
        volume_nodes, segmentation_node=segmentation_node, case_id=case_id or folder.name, pathology=pathology
    )
    return save_brats_case(case, folder, provenance=provenance, naming=naming)


def save_brats_case(case: Case, folder: str | os.PathLike, *, provenance: Mapping, naming: str = "2023") -> Path:
    """Write ``case`` as a BraTS case folder (files named after its ``case_id``) with
    ``provenance.json``, written last. Touches no MRML: it may run in a worker thread."""
    folder = Path(folder)
    text = json.dumps(dict(provenance), indent=2)  # fails before any file is written if not JSON-ready
    write_brats_case(case, folder, naming=naming)
    atomic_write_bytes(folder / "provenance.json", (text + "\n").encode("utf-8"))
    return folder
