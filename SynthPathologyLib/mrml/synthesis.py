"""Synthesis in a Slicer scene: the one entry point shared by the desktop module, the browser app,
scripts and tests.

:func:`synthesize_in_scene` reads the contrasts from scalar volume nodes and the lesion from a
Markups seed, runs the :class:`~SynthPathologyLib.synthesis.synthesizer.Synthesizer`, and writes the result
back as "<source name> (synthetic)" volume nodes, a lesion segmentation node and a slice-view
overlay. Output nodes carry roles, so a rerun replaces them instead of adding new ones.

The lesion is parametric (the seed's :class:`~SynthPathologyLib.lesions.spec.LesionSpec`) or a
:class:`LibraryLesion`, a real segmentation placed at the seed; either may push the tissue around it
away (``mass_effect_mm``, :func:`~SynthPathologyLib.synthesis.insertion.insert_lesion`). Several
seeds (several ROIs, or a point list with several points) paint one lesion each, one after the
other (:func:`~SynthPathologyLib.synthesis.insertion.insert_lesions`): metastases, MS plaques.

Interactive use regenerates many times on the same volumes: the loaded model and the prepared
case (mask, normalization, white-matter map) are kept in the caller's
:class:`~SynthPathologyLib.synthesis.session.SynthesisSession` and reused while the input nodes'
voxels are unchanged. Each entry point also exists as steps (:mod:`.jobs`) whose heavy part runs
in a worker thread: :func:`synthesis_steps`, :func:`variant_steps`, :func:`removal_step`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cache, partial
from pathlib import Path

from vtkmodules.vtkCommonMath import vtkMatrix4x4

from ..core.errors import SynthPathologyError
from ..lesions.existing import union_labels
from ..lesions.library import LibraryLesion, place_at_seed
from ..lesions.spec import Composition, LesionSpec
from ..synthesis.insertion import insert_lesions
from ..synthesis.session import SynthesisSession
from ..synthesis.synthesizer import PreparedCase, SynthesisResult, Synthesizer
from .jobs import Step
from .lesion import (
    SceneResult,
    lesion_segmentation_node,
    lesion_specs_from_seed_nodes,
    save_brats_case,
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
    **options,
) -> SceneResult:
    """Paint the lesion each seed asks for into the volumes and show them.

    Args (the keyword-only ones typed in :func:`synthesis_steps`):
        scene: the MRML scene holding the nodes.
        volume_nodes: contrast ("t1", "t1c", "t2", "flair") -> scalar volume node, all on one grid;
            the model's contrasts must all be there.
        seed_node: Markups ROI (centre and radii set the lesion) or point list (then give
            ``diameter_mm``), or a sequence of them: one lesion per ROI and per point, each kept
            apart from the ones before it (a seed too close to one is refused); see
            :func:`~SynthPathologyLib.mrml.lesion.lesion_specs_from_seed_nodes`.
        pathology: registered pathology (its default model when ``model`` is None); a ``model`` of
            another pathology is refused with a one-line error.
        random_seed: seeds the lesion shapes and the generator's noise: another seed, another variant.
        model: a :class:`Synthesizer`, a model folder, or None for the pathology's default model.
        diameter_mm: tumor-core diameter (mm) of a point seed.
        composition: necrosis / enhancing / edema proportions (of a parametric lesion).
        mass_effect_mm: push the tissue around the lesion this far (mm) at the core's edge, fading
            to nothing within the reach (:mod:`~SynthPathologyLib.lesions.mass_effect`); 0: none.
        library_lesion: a segmentation file of a label library (or a :class:`LibraryLesion` read
            already) to place at the seed instead of the parametric lesion (see
            :func:`place_at_seed`); None: the parametric one.
        brain_mask_node: brain mask volume node on the volumes' grid; default: voxels non-zero in any
            volume.
        device: "auto", "cpu" or "cuda[:N]" (for a model given as a folder or None).
        opacity: opacity in [0, 1] of the synthetic volume over the original in the slice views.
        session: keeps the loaded model and the prepared case for the next call; None: a new one
            (the model loads and the case is prepared on every call).

    Returns:
        :class:`SceneResult` with ``volume_nodes`` (contrast -> "<source> (synthetic)" node),
        ``segmentation_node`` (every lesion painted, pathology's segment names and colors), the
        seeds' specs (for a library lesion: where and how large it was asked), the label map of
        the painted lesions and the provenance (``provenance["lesions"]`` lists each lesion's
        record; ``provenance["lesion"]`` is the last one's, its ``["library"]`` names the library
        file, ``provenance["mass_effect"]`` is the field).

    Raises:
        SynthPathologyError and subclasses: bad seed, volumes, model or placement; the scene is
        left unchanged then.
    """
    (step,) = synthesis_steps(scene, volume_nodes, seed_node, pathology, [random_seed], model, **options)
    return step.run()


def synthesis_steps(
    scene,
    volume_nodes: Mapping[str, object],
    seed_node,
    pathology: str = "glioma",
    random_seeds: Sequence[int] = (0,),
    model: Synthesizer | str | os.PathLike | None = None,
    *,
    diameter_mm: float | None = None,
    composition: Composition = Composition(),
    mass_effect_mm: float = 0.0,
    library_lesion: str | os.PathLike | LibraryLesion | None = None,
    brain_mask_node=None,
    device: str = "auto",
    opacity: float = 1.0,
    session: SynthesisSession | None = None,
) -> list[Step[SynthesisResult]]:
    """:func:`synthesize_in_scene` as one :class:`~.jobs.Step` per random seed (variants at the same
    seeds); each step's result is its :class:`SceneResult`. The seeds and the volumes' voxels are
    read now (main thread); the case is prepared, and a library file read, once, by the first
    step's compute."""
    if not mass_effect_mm >= 0:
        raise SynthPathologyError(f"mass effect must be >= 0 mm, got {mass_effect_mm}")
    session = session if session is not None else SynthesisSession()
    synthesizer = session.synthesizer(model, pathology, device)
    variants = [
        lesion_specs_from_seed_nodes(seed_node, diameter_mm=diameter_mm, composition=composition,
                                     random_seed=seed, pathology=pathology)
        for seed in random_seeds
    ]
    prepare = case_preparation(session, synthesizer, volume_nodes, brain_mask_node, pathology)
    library = _library_reader(library_lesion, pathology)
    return [
        Step(partial(_synthesize, synthesizer, prepare, specs, library, mass_effect_mm),
             partial(_show_result, scene, volume_nodes, specs=specs, pathology=pathology, opacity=opacity))
        for specs in variants
    ]


def _synthesize(synthesizer: Synthesizer, prepare: Callable[[], PreparedCase], specs: Sequence[LesionSpec],
                library: Callable[[], LibraryLesion] | None, mass_effect_mm: float) -> SynthesisResult:
    """One lesion per spec, one after the other: parametric, or the library lesion placed at each seed."""
    prepared = prepare()
    if library is None:
        return insert_lesions(synthesizer, prepared, specs, mass_effect_mm=mass_effect_mm)
    placed = [place_at_seed(library(), spec, prepared.case.reference, prepared.mask) for spec in specs]
    return insert_lesions(synthesizer, prepared, [label for label, _ in placed], mass_effect_mm=mass_effect_mm,
                          random_seeds=[spec.random_seed for spec in specs], described=[note for _, note in placed])


def _library_reader(library_lesion: str | os.PathLike | LibraryLesion | None,
                    pathology: str) -> Callable[[], LibraryLesion] | None:
    """The library lesion as work for the steps' compute: a file is read by the first step that
    needs it (in the worker thread: a segmentation takes a fraction of a second) and kept for the
    others."""
    if library_lesion is None:
        return None
    if isinstance(library_lesion, LibraryLesion):
        return lambda: library_lesion
    return cache(partial(LibraryLesion.read, library_lesion, pathology))


def remove_lesion_in_scene(scene, volume_nodes: Mapping[str, object], segmentation_node, *args,
                           **options) -> SceneResult:
    """Replace the lesion drawn in ``segmentation_node`` by pseudo-healthy tissue.

    The results go to the same "<source> (synthetic)" nodes as :func:`synthesize_in_scene`; the
    segmentation node is left as it is (it shows where the lesion was). Further arguments: those of
    :func:`removal_step` (pathology, random_seed, model, brain_mask_node, device, opacity, session),
    as in :func:`synthesize_in_scene`.

    Returns:
        :class:`SceneResult` with ``volume_nodes``, the input ``segmentation_node``, an empty label
        map and the provenance (operation "remove").

    Raises:
        CaseError: the segmentation holds no lesion voxel.
    """
    return removal_step(scene, volume_nodes, segmentation_node, *args, **options).run()


def removal_step(
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
    session: SynthesisSession | None = None,
) -> Step[SynthesisResult]:
    """:func:`remove_lesion_in_scene` as a :class:`~.jobs.Step` (its result: the
    :class:`SceneResult`); the nodes are read now (main thread)."""
    synthesizer = (session if session is not None else SynthesisSession()).synthesizer(model, pathology, device)
    case = volume_nodes_to_case(
        volume_nodes, segmentation_node=segmentation_node, brain_mask_node=brain_mask_node, pathology=pathology
    )

    def show(result: SynthesisResult) -> SceneResult:
        output = _show_volumes(scene, volume_nodes, result, opacity)
        return SceneResult(segmentation_node, None, result.label, output, result.provenance)

    return Step(partial(synthesizer.remove_lesion, case, random_seed=random_seed), show)


def save_variants_from_scene(
    scene,
    volume_nodes: Mapping[str, object],
    seed_node,
    out_dir: str | os.PathLike,
    *,
    progress: Callable[[int, int], bool] | None = None,
    **options,
) -> list[Path]:
    """Synthesize ``variants`` lesions at one seed (random seeds ``first_seed``, ``first_seed + 1``,
    ...) and save each as a BraTS case folder ``<out_dir>/<case_id>-v<seed>`` with its label and
    ``provenance.json``. The scene shows the last variant afterwards.

    Args (the keyword-only ones typed in :func:`variant_steps`):
        scene, volume_nodes, seed_node: as :func:`synthesize_in_scene`.
        out_dir: folder that receives one case folder per variant.
        variants: how many variants (>= 1).
        first_seed: random seed of the first variant.
        case_id: prefix of the case folders and files.
        progress: called as ``progress(done, total)`` before each variant and at the end; returning
            False stops after the variants already saved (each saved folder is complete).
        options: further keyword arguments of :func:`synthesize_in_scene` (model, session,
            composition...).

    Returns:
        The case folders written.
    """
    steps = variant_steps(scene, volume_nodes, seed_node, out_dir, **options)
    written: list[Path] = []
    for index, step in enumerate(steps):
        if progress is not None and progress(index, len(steps)) is False:
            return written
        written.append(step.run())
    if progress is not None:
        progress(len(steps), len(steps))
    return written


def variant_steps(
    scene,
    volume_nodes: Mapping[str, object],
    seed_node,
    out_dir: str | os.PathLike,
    *,
    variants: int = 1,
    first_seed: int = 0,
    case_id: str = "synthetic",
    **options,
) -> list[Step[Path]]:
    """:func:`save_variants_from_scene` as one :class:`~.jobs.Step` per variant: its compute
    synthesizes and writes the case folder (worker thread), its apply shows the variant; its
    result is the folder."""
    if variants < 1:
        raise SynthPathologyError(f"variants must be >= 1, got {variants}")
    seeds = range(first_seed, first_seed + variants)
    steps = synthesis_steps(scene, volume_nodes, seed_node, random_seeds=seeds, **options)
    return [_saving(step, Path(out_dir) / f"{case_id}-v{seed}") for step, seed in zip(steps, seeds)]


def _saving(step: Step[SynthesisResult], folder: Path) -> Step[Path]:
    """``step`` that also writes its synthesis as the BraTS case ``folder``; its result is the folder."""

    def compute() -> SynthesisResult:
        result = step.compute()
        save_brats_case(replace(result.case, case_id=folder.name), folder, provenance=result.provenance)
        return result

    def apply(result: SynthesisResult) -> Path:
        step.apply(result)
        return folder

    return Step(compute, apply)


def _show_result(scene, volume_nodes, result: SynthesisResult, *, specs: Sequence[LesionSpec], pathology: str,
                 opacity: float) -> SceneResult:
    output = _show_volumes(scene, volume_nodes, result, opacity)
    # The last lesion went into the case the earlier ones made (the nodes' case has no label of its
    # own here): their union is every painted lesion.
    label = union_labels(result.source.label, result.label)
    lesion_node = lesion_segmentation_node(scene)
    label_to_segmentation_node(scene, label, pathology=pathology, node=lesion_node)
    return SceneResult(lesion_node, specs[0], label, output, result.provenance, list(specs))


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


def case_preparation(session: SynthesisSession, synthesizer: Synthesizer, volume_nodes: Mapping[str, object],
                     brain_mask_node=None, pathology: str = "glioma") -> Callable[[], PreparedCase]:
    """Read the nodes' voxels now and return the work that prepares their case for
    :func:`synthesize_in_scene` (brain mask, normalization, white-matter map: seconds for a 1 mm
    brain) and keeps it in ``session``. The work touches no MRML, so it may run in a worker thread
    while the scene stays responsive; it is instant when the nodes' case is prepared already.

    The kept case is reused while the nodes' voxels and geometry are unchanged (renaming a node
    or changing its display does not invalidate it).
    """
    nodes = [*volume_nodes.values(), brain_mask_node]
    key = (tuple(volume_nodes), *(_node_state(node) for node in nodes))
    kept = session.kept_case(synthesizer, key)
    if kept is not None:
        return lambda: kept
    case = volume_nodes_to_case(volume_nodes, brain_mask_node=brain_mask_node, pathology=pathology)
    prepare = partial(synthesizer.prepare, case, estimate_white_matter=True)
    return partial(session.prepared_case, synthesizer, key, prepare)


def _node_state(node) -> tuple:
    """What a prepared case depends on: the node, its voxels' modification time, its IJK-to-RAS.
    VTK draws modification times from one process-wide counter, so a new node that reuses a
    removed node's ID never matches the removed node's state."""
    if node is None:
        return ()
    image = node.GetImageData()
    ijk_to_ras = vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    geometry = tuple(ijk_to_ras.GetElement(r, c) for r in range(3) for c in range(4))
    return (node.GetID(), image.GetMTime() if image is not None else 0, geometry)
