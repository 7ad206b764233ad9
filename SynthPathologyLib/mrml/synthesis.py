"""Synthesis in a Slicer scene: the one entry point shared by the desktop module, the browser app,
scripts and tests.

:func:`synthesize_in_scene` reads the contrasts from scalar volume nodes and the lesion from a
Markups seed, runs the :class:`~SynthPathologyLib.synthesis.synthesizer.Synthesizer`, and writes the result
back as "<source name> (synthetic)" volume nodes, a lesion segmentation node and a slice-view
overlay. Output nodes carry roles, so a rerun replaces them instead of adding new ones.

Interactive use regenerates many times on the same volumes: the loaded model and the prepared
case (mask, normalization, white-matter map) are cached and reused while the input nodes' voxels
are unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vtkmodules.vtkCommonMath import vtkMatrix4x4

from ..core.errors import SynthPathologyError
from ..lesions.spec import Composition
from ..synthesis.synthesizer import PreparedCase, SynthesisResult, Synthesizer, default_model_path
from .lesion import (
    SceneResult,
    lesion_segmentation_node,
    lesion_spec_from_seed_node,
    save_brats_case_from_scene,
    synthetic_role,
    volume_nodes_to_case,
)
from .scene import show_overlay
from .segmentation import label_to_segmentation_node
from .volumes import sitk_to_role_volume_node

OVERLAY_CONTRASTS = ("flair", "t2", "t1c", "t1")
"""Preference order of the contrast shown as the overlay (edema shows best on FLAIR)."""


def synthesize_in_scene(
    scene,
    volume_nodes: Mapping[str, object],
    seed_node,
    pathology: str = "glioma",
    random_seed: int = 0,
    model: Synthesizer | str | os.PathLike | None = None,
    *,
    diameter_mm: float | None = None,
    composition: Composition = Composition(),
    brain_mask_node=None,
    device: str = "auto",
    opacity: float = 1.0,
) -> SceneResult:
    """Paint the lesion a seed asks for into the volumes and show it.

    Args:
        scene: the MRML scene holding the nodes.
        volume_nodes: contrast ("t1", "t1c", "t2", "flair") -> scalar volume node, all on one grid;
            the model's contrasts must all be there.
        seed_node: Markups ROI (centre and radii set the lesion) or point list with one point (then
            give ``diameter_mm``); see :func:`~SynthPathologyLib.mrml.lesion.lesion_spec_from_seed_node`.
        pathology: registered pathology (its default model when ``model`` is None).
        random_seed: seeds the lesion shape and the generator's noise: another seed, another variant.
        model: a :class:`Synthesizer`, a model folder, or None for the pathology's default model.
        diameter_mm: tumor-core diameter (mm) of a point seed.
        composition: necrosis / enhancing / edema proportions.
        brain_mask_node: brain mask volume node on the volumes' grid; default: voxels non-zero in any
            volume.
        device: "auto", "cpu" or "cuda[:N]" (for a model given as a folder or None).
        opacity: opacity in [0, 1] of the synthetic volume over the original in the slice views.

    Returns:
        :class:`SceneResult` with ``volume_nodes`` (contrast -> "<source> (synthetic)" node),
        ``segmentation_node`` (the lesion, pathology's segment names and colors), the spec, the
        label map and the provenance.

    Raises:
        SynthPathologyError and subclasses: bad seed, volumes, model or placement; the scene is
        left unchanged then.
    """
    synthesizer = model if isinstance(model, Synthesizer) else load_synthesizer(model, pathology, device)
    spec = lesion_spec_from_seed_node(
        seed_node, diameter_mm=diameter_mm, composition=composition, random_seed=random_seed, pathology=pathology
    )
    prepared = case_preparation(synthesizer, volume_nodes, brain_mask_node, pathology)()
    result = synthesizer.synthesize(prepared, spec)
    return _show_result(scene, volume_nodes, result, spec=spec, pathology=pathology, opacity=opacity)


def remove_lesion_in_scene(
    scene,
    volume_nodes: Mapping[str, object],
    segmentation_node,
    pathology: str = "glioma",
    random_seed: int = 0,
    model: Synthesizer | str | os.PathLike | None = None,
    *,
    brain_mask_node=None,
    device: str = "auto",
    opacity: float = 1.0,
) -> SceneResult:
    """Replace the lesion drawn in ``segmentation_node`` by pseudo-healthy tissue.

    The results go to the same "<source> (synthetic)" nodes as :func:`synthesize_in_scene`; the
    segmentation node is left as it is (it shows where the lesion was). Arguments as there.

    Returns:
        :class:`SceneResult` with ``volume_nodes``, the input ``segmentation_node``, an empty label
        map and the provenance (operation "remove").

    Raises:
        CaseError: the segmentation holds no lesion voxel.
    """
    synthesizer = model if isinstance(model, Synthesizer) else load_synthesizer(model, pathology, device)
    case = volume_nodes_to_case(
        volume_nodes, segmentation_node=segmentation_node, brain_mask_node=brain_mask_node, pathology=pathology
    )
    result = synthesizer.remove_lesion(case, random_seed=random_seed)
    return SceneResult(
        segmentation_node,
        None,
        result.label,
        _show_volumes(scene, volume_nodes, result, opacity),
        result.provenance,
    )


def save_variants_from_scene(
    scene,
    volume_nodes: Mapping[str, object],
    seed_node,
    out_dir: str | os.PathLike,
    *,
    variants: int = 1,
    first_seed: int = 0,
    case_id: str = "synthetic",
    progress: Callable[[int, int], bool] | None = None,
    **options,
) -> list[Path]:
    """Synthesize ``variants`` lesions at one seed (random seeds ``first_seed``, ``first_seed + 1``,
    ...) and save each as a BraTS case folder ``<out_dir>/<case_id>-v<seed>`` with its label and
    ``provenance.json``. The scene shows the last variant afterwards.

    Args:
        scene, volume_nodes, seed_node: as :func:`synthesize_in_scene`.
        out_dir: folder that receives one case folder per variant.
        variants: how many variants (>= 1).
        first_seed: random seed of the first variant.
        case_id: prefix of the case folders and files.
        progress: called as ``progress(done, total)`` before each variant and at the end; returning
            False stops after the variants already saved (each saved folder is complete).
        options: further keyword arguments of :func:`synthesize_in_scene` (model, composition...).

    Returns:
        The case folders written.
    """
    if variants < 1:
        raise SynthPathologyError(f"variants must be >= 1, got {variants}")
    written: list[Path] = []
    for index in range(variants):
        if progress is not None and progress(index, variants) is False:
            return written
        seed = first_seed + index
        result = synthesize_in_scene(scene, volume_nodes, seed_node, random_seed=seed, **options)
        folder = Path(out_dir) / f"{case_id}-v{seed}"
        written.append(
            save_brats_case_from_scene(
                folder, volume_nodes=result.volume_nodes, segmentation_node=result.segmentation_node,
                provenance=result.provenance, pathology=options.get("pathology", "glioma"),
            )
        )
    if progress is not None:
        progress(variants, variants)
    return written


def _show_result(scene, volume_nodes, result: SynthesisResult, *, spec, pathology: str, opacity: float) -> SceneResult:
    output = _show_volumes(scene, volume_nodes, result, opacity)
    lesion_node = lesion_segmentation_node(scene)
    label_to_segmentation_node(scene, result.label, pathology=pathology, node=lesion_node)
    return SceneResult(lesion_node, spec, result.label, output, result.provenance)


def _show_volumes(scene, volume_nodes: Mapping[str, object], result: SynthesisResult, opacity: float) -> dict:
    """Write the synthetic contrasts into their role nodes and overlay one of them."""
    output = {
        contrast: sitk_to_role_volume_node(
            scene, result.source.images[contrast], synthetic_role(contrast), f"{node.GetName()} (synthetic)",
            display_like=node, box=result.box if contrast in result.patches else None,
            patch=result.patches.get(contrast),
        )
        for contrast, node in volume_nodes.items()
    }
    shown = next((c for c in OVERLAY_CONTRASTS if c in output), next(iter(output)))
    show_overlay(scene, volume_nodes[shown], output[shown], opacity)
    return output


@lru_cache(maxsize=2)
def _cached_synthesizer(model_path: str, device: str) -> Synthesizer:
    return Synthesizer(model_path, device=device)


def load_synthesizer(
    model: str | os.PathLike | None = None, pathology: str = "glioma", device: str = "auto"
) -> Synthesizer:
    """The synthesizer for a model folder (None: the pathology's default), loaded once per
    (folder, device) and reused by later calls."""
    path = Path(model) if model is not None else default_model_path(pathology)
    return _cached_synthesizer(str(path.resolve()), device)


@dataclass
class _PreparedEntry:
    key: tuple
    prepared: PreparedCase


_last_prepared: list[_PreparedEntry] = []  # one entry: the case being worked on


def case_preparation(synthesizer: Synthesizer, volume_nodes: Mapping[str, object], brain_mask_node=None,
                     pathology: str = "glioma") -> Callable[[], PreparedCase]:
    """Read the nodes' voxels now and return the work that prepares their case for
    :func:`synthesize_in_scene` (brain mask, normalization, white-matter map: seconds for a 1 mm
    brain) and caches it. The work touches no MRML, so it may run in a worker thread while the
    scene stays responsive; it is instant when the nodes' case is prepared already.

    The cached case is reused while the nodes' voxels and geometry are unchanged (renaming a node
    or changing its display does not invalidate it).
    """
    nodes = [*volume_nodes.values(), brain_mask_node]
    key = (id(synthesizer), tuple(volume_nodes), *(_node_state(node) for node in nodes))
    if _last_prepared and _last_prepared[0].key == key:
        prepared = _last_prepared[0].prepared
        return lambda: prepared
    case = volume_nodes_to_case(volume_nodes, brain_mask_node=brain_mask_node, pathology=pathology)

    def prepare() -> PreparedCase:
        prepared = synthesizer.prepare(case, estimate_white_matter=True)
        _last_prepared[:] = [_PreparedEntry(key, prepared)]
        return prepared

    return prepare


def _node_state(node) -> tuple:
    """What a prepared case depends on: the node, its voxels' modification time, its IJK-to-RAS."""
    if node is None:
        return ()
    image = node.GetImageData()
    ijk_to_ras = vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    geometry = tuple(ijk_to_ras.GetElement(r, c) for r in range(3) for c in range(4))
    return (node.GetID(), image.GetMTime() if image is not None else 0, geometry)
