"""A generator on real glioma scans, beside a ring-mean fill: paired repaint error, artifacts,
variety and lesion removal. Prints one JSON object.

For each real case (BraTS layout, with its label) the model repaints the case's own lesion from
its label (random seeds 0 and 1) and removes it. Figures, per contrast, intensities divided by the
real case's 99.5th brain percentile:

- ``repaint``: MAE, PSNR, SSIM inside the lesion (:func:`~SynthPathologyLib.evaluation.paired.paired_metrics`)
  for the model and for the lesion filled with the mean of the brain ring around it
  (``ring_mean``), and their MAE ratio (target <= 0.8);
- ``checkerboard_index``: 2x2x2 alternating-sign energy inside the lesion, repaint / real (target
  <= 1.5); ``band_bias``: margin band mean, repaint vs real, relative (target |x| <= 0.05)
  (:mod:`SynthPathologyLib.evaluation.artifacts`);
- ``seed_ssim``: SSIM between the repaints of seeds 0 and 1 in the lesion's box (target <= 0.95);
- ``removal_flair_ratio``: FLAIR mean in the removed lesion over the mirrored (left-right)
  region of the real case (target 0.85-1.15; BraTS-space images, whose x axis is left-right);
- ``t1c_flair_only`` (generators that serve any subset of contrasts): the repaint of a copy of the
  case holding T1c and FLAIR alone, MAE ratio to the ring-mean fill per contrast;
- ``brats_inpainting``: the BraTS 2023 inpainting metrics (official ``inpainting`` package, through
  :func:`~SynthPathologyLib.evaluation.inpainting.brats_inpainting_metrics`) of the T1 inpainted into a
  healthy-tissue mask: the lesion's mirror image (left-right) outside the lesion grown by the margin,
  as tumour-shaped as the challenge's masks. ``t1_only`` gives the model the voided T1 alone (the
  challenge's setting), ``all_contrasts`` all four voided; ``ring_mean`` fills the mask with the ring's
  mean; ``seconds`` is the inpainting call's wall time.

Each case is labelled ``held out`` when the model card excludes it from training, ``training`` when
the model trained on it, ``not in training`` when the model saw no real case.

    python Testing/benchmarks/eval_real.py [--data ../shared/realdata/glioma] [--model DIR] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.errors import CaseError
from SynthPathologyLib.core.image_io import copy_geometry
from SynthPathologyLib.evaluation.artifacts import band_bias, checkerboard_index
from SynthPathologyLib.evaluation.inpainting import RANKED_METRICS, brats_inpainting_metrics
from SynthPathologyLib.evaluation.inpainting_task import healthy_mask as inpainting_healthy_mask
from SynthPathologyLib.evaluation.paired import lesion_ssim, paired_metrics
from SynthPathologyLib.io.brats import find_brats_cases, read_brats_case
from SynthPathologyLib.networks.conditioning import intensity_scale
from SynthPathologyLib.synthesis.synthesizer import Synthesizer
from SynthPathologyLib.training.validation import local_mean_fill

REPO = Path(__file__).resolve().parents[2]


def arrays(case: Case, contrasts: list[str]) -> dict[str, np.ndarray]:
    return {c: sitk.GetArrayFromImage(case.images[c]) for c in contrasts}


def normalized(images: dict[str, np.ndarray], scales: dict[str, float]) -> np.ndarray:
    """(C, z, y, x) float64: each contrast divided by its scale (the real case's brain percentile)."""
    return np.stack([images[c].astype(np.float64) / scale for c, scale in scales.items()])


def role(synthesizer: Synthesizer, case: Case) -> str:
    """Whether the model trained on ``case`` (from its card's training settings)."""
    config = synthesizer.card.training.get("config", {})
    if case.case_id in config.get("exclude_cases", []):
        return "held out"
    return "training" if config.get("real_data") else "not in training"


def subset_repaint(synthesizer: Synthesizer, case: Case, contrasts: list[str]) -> dict | None:
    """MAE ratio to the ring-mean fill of the repaint of a copy of ``case`` holding ``contrasts`` alone."""
    if not synthesizer.card.network_config().any_contrasts:
        return None
    names = {info.value: info.abbreviation for info in synthesizer.pathology.labels}
    label = sitk.GetArrayFromImage(case.label)
    mask = case.mask()
    brain = sitk.GetArrayFromImage(mask) > 0
    part = Case({c: case.images[c] for c in contrasts}, label=case.label, brain_mask=mask, case_id=case.case_id)
    source = arrays(case, contrasts)
    scales = {c: intensity_scale(source[c], brain) for c in contrasts}
    real = normalized(source, scales)
    painted = normalized(arrays(synthesizer.synthesize(part, case.label, random_seed=0).case, contrasts), scales)
    ring = normalized(local_mean_fill(case, label > 0, contrasts), scales)
    model, baseline = (paired_metrics(real, image, label, contrasts, names) for image in (painted, ring))
    return {c: model[f"mae_{c}"] / baseline[f"mae_{c}"] for c in contrasts}


def healthy_mask(synthesizer: Synthesizer, case: Case) -> np.ndarray:
    """Bool (z, y, x): the lesion mirrored left-right, inside the brain and clear of the lesion grown by
    the model's margin (healthy tissue only)."""
    return inpainting_healthy_mask(sitk.GetArrayViewFromImage(case.label), sitk.GetArrayFromImage(case.mask()) > 0,
                                   case.reference.GetSpacing(), synthesizer.card.margin_mm)


def brats_inpainting(synthesizer: Synthesizer, case: Case) -> dict:
    """The BraTS 2023 inpainting figures of the T1 inpainted into :func:`healthy_mask`, given the
    voided T1 alone and given all four voided contrasts, beside the ring-mean fill."""
    hole = healthy_mask(synthesizer, case)
    mask = copy_geometry(hole.astype(np.uint8), case.reference)
    real = sitk.GetArrayFromImage(case.images["t1"])
    voided = {c: copy_geometry(np.where(hole, 0, a).astype(a.dtype), case.reference)
              for c, a in arrays(case, case.contrasts).items()}
    voided_t1 = sitk.GetArrayFromImage(voided["t1"])
    brain = case.mask()
    figures = {"mask_ml": float(hole.sum() * np.prod(case.reference.GetSpacing()) / 1000)}
    for setting, contrasts in (("t1_only", ["t1"]), ("all_contrasts", list(case.images))):
        try:
            start = time.perf_counter()
            result = synthesizer.inpaint(Case({c: voided[c] for c in contrasts}, brain_mask=brain,
                                              case_id=case.case_id), mask, random_seed=0)
            seconds = time.perf_counter() - start
        except CaseError as exc:
            figures[setting] = f"n/a: {exc}"
            continue
        inpainted = sitk.GetArrayFromImage(result.case.images["t1"])
        figures[setting] = {**_ranked(brats_inpainting_metrics(real, inpainted, hole, voided_t1)),
                            "seconds": round(seconds, 2)}
    ring_fill = local_mean_fill(case, hole, ["t1"])["t1"]
    figures["ring_mean"] = _ranked(brats_inpainting_metrics(real, ring_fill, hole, voided_t1))
    return figures


def _ranked(scores: dict) -> dict:
    return {k: scores[k] for k in RANKED_METRICS}


def evaluate_case(synthesizer: Synthesizer, case: Case) -> dict:
    contrasts = list(synthesizer.card.contrasts)
    names = {info.value: info.abbreviation for info in synthesizer.pathology.labels}
    label = sitk.GetArrayFromImage(case.label)
    lesion = label > 0
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    source = arrays(case, contrasts)
    scales = {c: intensity_scale(source[c], brain) for c in contrasts}
    real = normalized(source, scales)
    repaints = [synthesizer.synthesize(case, case.label, random_seed=seed) for seed in (0, 1)]
    painted = [normalized(arrays(result.case, contrasts), scales) for result in repaints]
    region = sitk.GetArrayFromImage(repaints[0].region) > 0
    ring = normalized(local_mean_fill(case, lesion, contrasts), scales)
    model, baseline = (paired_metrics(real, image, label, contrasts, names) for image in (painted[0], ring))
    removed = synthesizer.remove_lesion(case, random_seed=0).case.images["flair"]
    mirrored = lesion[..., ::-1]
    return {"case": case.case_id, "role": role(synthesizer, case),
            "lesion_ml": float(lesion.sum() * np.prod(case.reference.GetSpacing()) / 1000),
            "contrasts": {c: {
                "repaint": {k: model[f"{k}_{c}"] for k in ("mae", "psnr", "ssim")},
                "ring_mean": {k: baseline[f"{k}_{c}"] for k in ("mae", "psnr", "ssim")},
                "mae_ratio": model[f"mae_{c}"] / baseline[f"mae_{c}"],
                "checkerboard_index": checkerboard_index(painted[0][i], real[i], lesion),
                "band_bias": band_bias(painted[0][i], real[i], region, lesion),
                "seed_ssim": lesion_ssim(painted[0][i:i + 1], painted[1][i:i + 1], lesion),
            } for i, c in enumerate(contrasts)},
            "removal_flair_ratio": float(sitk.GetArrayFromImage(removed)[lesion].mean()
                                         / source["flair"][mirrored].mean()),
            "t1c_flair_only": subset_repaint(synthesizer, case, ["t1c", "flair"]),
            "brats_inpainting": brats_inpainting(synthesizer, case)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "realdata" / "glioma")
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    synthesizer = Synthesizer(args.model, device=args.device)
    cases = [evaluate_case(synthesizer, read_brats_case(folder, require_label=True))
             for folder in find_brats_cases(args.data)]
    print(json.dumps({"model": synthesizer.card.model_id, "data": str(args.data), "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
