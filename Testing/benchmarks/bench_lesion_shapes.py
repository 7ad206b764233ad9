"""Shapes of sampled gliomas beside real lesion labels.

Prints one JSON object: for the lesion sampler (random plausible gliomas, as ``augment`` draws them,
on the 1 mm default brain) and for the real labels in ``../shared/realdata`` (the two TCGA gliomas'
algorithmic BraTS labels; the MS consensus masks, per connected lesion of at least
``--ms-min-voxels`` voxels, for reference): the tumour core's solidity (voxel volume over the volume
of the convex hull of the voxel centres), the edema / core volume ratio, the core volume (ml) and,
for the sampler, the fraction of core voxels in CSF (template CSF probability > ``CSF_LEVEL``; draws
over ``MAX_CORE_IN_CSF`` are redrawn, as ``augment`` does): medians,
ranges and the values. Real data: TCGA via TCIA (CC BY 3.0), BraTS Toolkit labels; MS: Lesjak et
al. 2018 (CC BY). Then lesions placed into each real brain as ``augment`` places them
(:func:`placement_on_real_brains`).

Run from the repository root: ``python Testing/benchmarks/bench_lesion_shapes.py --samples 12``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.core.errors import LesionPlacementError
from SynthPathologyLib.io.brats import read_brats_case
from SynthPathologyLib.lesions.existing import DEFAULT_GAP_MM, lesion_free_brain
from SynthPathologyLib.lesions.placement import generate_lesion, kept_core
from SynthPathologyLib.lesions.sampling import (
    CSF_LEVEL,
    MAX_CORE_IN_CSF,
    core_fraction_in,
    draw_fitting_lesion,
    random_lesion_spec,
)
from SynthPathologyLib.lesions.shape_measures import edema_core_ratio, solidity
from SynthPathologyLib.lesions.sites import LOBES, lobe_of
from SynthPathologyLib.phantom.atlas import estimate_tissue_maps_with_priors
from SynthPathologyLib.phantom.default_brain import load_default_brain

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
CORE, EDEMA = (1, 3), 2


def summary(values: list[float]) -> dict:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "values": [round(v, 3) for v in values]}


def label_stats(label: np.ndarray, spacing_zyx) -> dict:
    return {"solidity": solidity(np.isin(label, CORE), spacing_zyx),
            "edema_core_ratio": edema_core_ratio(label, CORE, EDEMA),
            "core_ml": np.count_nonzero(np.isin(label, CORE)) * float(np.prod(spacing_zyx)) / 1000}


def collect(rows: list[dict]) -> dict:
    return {key: summary([r[key] for r in rows]) for key in rows[0]} if rows else {}


def sampler_stats(samples: int, diameter_range: tuple[float, float]) -> dict:
    brain = load_default_brain(1.0)
    mask = brain.tissues.brain_mask
    inside = sitk.GetArrayViewFromImage(mask) > 0
    white = sitk.GetArrayViewFromImage(brain.tissues.wm)
    csf = sitk.GetArrayViewFromImage(brain.tissues.csf) > CSF_LEVEL
    spacing = brain.t1.GetSpacing()[::-1]
    rows, seed, rejected = [], 0, 0
    while len(rows) < samples and seed < 10 * samples:
        rng = np.random.default_rng(seed)
        seed += 1
        spec = random_lesion_spec(inside, white, brain.t1, rng, diameter_range)
        if spec is None:
            continue
        try:
            label = sitk.GetArrayFromImage(generate_lesion(spec, brain.t1, mask, brain.tissues.wm))
        except Exception as exc:  # a refused draw is redrawn, as augment does
            print(f"# seed {seed - 1}: {exc}")
            continue
        in_csf = core_fraction_in(label, csf, CORE)
        if in_csf > MAX_CORE_IN_CSF:  # redrawn, as augment does
            rejected += 1
            continue
        rows.append({**label_stats(label, spacing), "core_in_csf": in_csf})
    return {"redrawn_for_csf": rejected, **collect(rows)}


def real_glioma_stats() -> dict:
    rows = {}
    for seg in sorted((REALDATA / "glioma").glob("*/*-seg.nii.gz")):
        image = sitk.ReadImage(str(seg))
        rows[seg.parent.name] = label_stats(sitk.GetArrayFromImage(image), image.GetSpacing()[::-1])
    return {"cases": list(rows), **collect(list(rows.values()))}


def real_ms_stats(min_voxels: int) -> dict:
    values = []
    for path in sorted((REALDATA / "ms").glob("*/*-lesion.nii.gz")):
        image = sitk.ReadImage(str(path))
        components, n = ndimage.label(sitk.GetArrayFromImage(image) > 0)
        sizes = np.bincount(components.ravel())
        for index in np.flatnonzero(sizes >= min_voxels):
            if index:
                values.append(solidity(components == index, image.GetSpacing()[::-1]))
    return {"lesions": len(values), "solidity": summary(values)}


def placement_on_real_brains(per_case: int, diameter_range: tuple[float, float]) -> dict:
    """Lesions drawn as ``augment`` draws them into each real brain (tissues estimated from its T1 with
    the template's priors,
    the existing lesion kept ``DEFAULT_GAP_MM`` away): core fraction in the estimated CSF, core voxels
    within the gap of the existing lesion, core volume kept over asked, and the lobe of each seed."""
    result = {}
    for t1_path in sorted(REALDATA.glob("*/*/*-t1n.nii.gz")):
        folder = t1_path.parent
        case = read_brats_case(folder, contrasts=("t1",))
        existing = case.label
        if existing is None:  # the MS masks are binary, not BraTS labels
            existing = sitk.Cast(sitk.ReadImage(str(next(folder.glob("*-lesion.nii.gz")))) > 0, sitk.sitkUInt8)
            existing.CopyInformation(case.reference)
        mask = case.mask()
        tissues = estimate_tissue_maps_with_priors(case.images["t1"], mask)
        room = lesion_free_brain(mask, existing, DEFAULT_GAP_MM)
        csf = sitk.GetArrayViewFromImage(tissues.csf) > CSF_LEVEL
        near = ~(sitk.GetArrayViewFromImage(room) > 0)  # in or within the gap of the existing lesion
        inside = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1].astype(float)
        corners = [np.asarray(case.reference.TransformContinuousIndexToPhysicalPoint(c)) for c in
                   (inside.min(0), inside.max(0))]
        low, high = np.minimum(*corners), np.maximum(*corners)
        rows, lobes = [], []
        for k in range(per_case):
            rng = np.random.default_rng([k, len(result)])
            try:
                spec, label, _ = draw_fitting_lesion(room, tissues.wm, csf, rng, diameter_range)
            except LesionPlacementError:  # augment skips such a case and reports it
                lobes.append("skipped")
                continue
            array = sitk.GetArrayViewFromImage(label)
            core = np.isin(array, CORE)
            kept, asked = kept_core(label, spec)
            rows.append({"core_in_csf": core_fraction_in(array, csf, CORE),
                         "core_voxels_near_existing": float(np.count_nonzero(core & near)),
                         "core_kept": kept / asked})
            lobes.append(LOBES[int(lobe_of(np.asarray([spec.center_lps]), low, high)[0])])
        result[folder.name] = {**collect(rows), "lobes": lobes}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12, help="sampled gliomas (default 12)")
    parser.add_argument("--diameter-range", type=float, nargs=2, default=(15.0, 40.0), help="mm (default 15 40)")
    parser.add_argument("--per-real-case", type=int, default=4, help="lesions placed per real brain (default 4)")
    parser.add_argument("--ms-min-voxels", type=int, default=200, help="smallest MS lesion measured (default 200)")
    args = parser.parse_args()
    print(json.dumps({"sampler": sampler_stats(args.samples, tuple(args.diameter_range)),
                      "real_glioma": real_glioma_stats(),
                      "real_ms": real_ms_stats(args.ms_min_voxels),
                      "placement_on_real_brains": placement_on_real_brains(args.per_real_case,
                                                                           tuple(args.diameter_range))}, indent=1))


if __name__ == "__main__":
    main()
