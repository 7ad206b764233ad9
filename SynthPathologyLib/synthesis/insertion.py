"""Inserting lesions as every front end does it (command line, Slicer module, web app): beside the
case's own lesions, which are kept with a gap, optionally pushing the tissue away (mass effect),
from a parametric :class:`~SynthPathologyLib.lesions.spec.LesionSpec` or a label map such as a
library lesion placed on the case's grid; several lesions (metastases, MS plaques) one after the
other, each beside the ones before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from ..core.case import Case
from ..lesions.existing import DEFAULT_GAP_MM, lesion_free_brain
from ..lesions.mass_effect import apply_mass_effect, mass_effect_for, warp_map
from ..lesions.placement import generate_lesion
from ..lesions.sampling import CSF_LEVEL
from ..lesions.spec import LesionSpec
from ..phantom.atlas import estimate_tissue_maps_with_priors
from .synthesizer import PreparedCase, SynthesisResult, Synthesizer


def prepare_beside_existing(synthesizer: Synthesizer, case: Case,
                            gap_mm: float = DEFAULT_GAP_MM) -> tuple[PreparedCase, np.ndarray | None]:
    """The case prepared for an insertion, and its CSF (bool (z, y, x), probability above
    ``CSF_LEVEL``; None without a T1): white matter and CSF are estimated from the T1 with the
    template's priors, and the room for the lesion, its edema and its synthesis region is the brain
    ``gap_mm`` away from the case's own lesions, whose voxels are thus left as they are."""
    tissues = estimate_tissue_maps_with_priors(case.images["t1"], case.mask()) if "t1" in case.images else None
    prepared = synthesizer.prepare(case, None if tissues is None else tissues.wm)
    csf = None if tissues is None else sitk.GetArrayViewFromImage(tissues.csf) > CSF_LEVEL
    return away_from_label(prepared, case.label, gap_mm), csf


def away_from_label(prepared: PreparedCase, label: sitk.Image | None, gap_mm: float = DEFAULT_GAP_MM) -> PreparedCase:
    """``prepared`` with its mask (and brain) narrowed to the room ``gap_mm`` away from ``label``'s lesions."""
    room = lesion_free_brain(prepared.mask, label, gap_mm)
    return replace(prepared, mask=room, brain=sitk.GetArrayViewFromImage(room) > 0)


def insert_lesion(synthesizer: Synthesizer, prepared: PreparedCase, lesion: LesionSpec | sitk.Image, *,
                  random_seed: int | None = None, mass_effect_mm: float = 0.0, gap_mm: float = DEFAULT_GAP_MM,
                  described: dict | None = None) -> SynthesisResult:
    """Synthesize ``lesion`` (a spec, or a label map on the case's grid described by ``described``)
    into ``prepared`` (see :func:`prepare_beside_existing`). With ``mass_effect_mm`` > 0 the case
    (contrasts, label, white matter) is first warped away from the lesion's core by that many mm at
    its edge, and provenance records the field; voxels beyond the field's reach and outside the
    synthesis region stay bit-identical."""
    if mass_effect_mm > 0:
        if isinstance(lesion, LesionSpec):
            described, random_seed = lesion.to_dict(), lesion.random_seed
            lesion = generate_lesion(lesion, prepared.case.reference, prepared.mask, prepared.white_matter)
        effect = mass_effect_for(lesion, mass_effect_mm, pathology=synthesizer.card.pathology)
        warped = apply_mass_effect(prepared.case, effect)
        white_matter = None if prepared.white_matter is None else warp_map(prepared.white_matter, effect)
        pushed = away_from_label(synthesizer.prepare(warped, white_matter), warped.label, gap_mm)
        result = synthesizer.synthesize(pushed, lesion, random_seed=random_seed)
        result.provenance["mass_effect"] = effect.to_dict()
    else:
        result = synthesizer.synthesize(prepared, lesion, random_seed=random_seed)
    if described is not None:
        result.provenance["lesion"] = described
    return result


def insert_lesions(synthesizer: Synthesizer, prepared: PreparedCase, lesions: Sequence[LesionSpec | sitk.Image], *,
                   random_seeds: Sequence[int | None] | None = None, mass_effect_mm: float = 0.0,
                   gap_mm: float = DEFAULT_GAP_MM, described: Sequence[dict | None] | None = None) -> SynthesisResult:
    """Insert several lesions one after the other (:func:`insert_lesion` each): lesion k goes into
    the case lesion k - 1 produced, ``gap_mm`` away from every lesion before it (a seed too close
    to one is refused, as beside a case's own lesion). The result's label holds them all and its
    provenance lists them under "lesions" (the last one's timings; "lesion" is the last lesion).

    ``random_seeds`` and ``described``: one per lesion (see :func:`insert_lesion`), or None.
    ``prepared.white_matter`` guides every lesion's edema (not warped by earlier mass effects)."""
    if not lesions:
        raise ValueError("insert_lesions needs at least one lesion")
    seeds = list(random_seeds) if random_seeds is not None else [None] * len(lesions)
    notes = list(described) if described is not None else [None] * len(lesions)
    records: list[dict] = []
    result: SynthesisResult | None = None
    for lesion, seed, note in zip(lesions, seeds, notes):
        if result is not None:
            prepared = away_from_label(synthesizer.prepare(result.case, prepared.white_matter), result.case.label,
                                       gap_mm)
        result = insert_lesion(synthesizer, prepared, lesion, random_seed=seed, mass_effect_mm=mass_effect_mm,
                               gap_mm=gap_mm, described=note)
        records.append({key: result.provenance[key] for key in ("lesion", "mass_effect") if key in result.provenance})
    result.provenance["lesions"] = records
    return result
