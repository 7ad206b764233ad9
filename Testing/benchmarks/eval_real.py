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
  region of the real case (target 0.85-1.15; BraTS-space images, whose x axis is left-right).

    python Testing/benchmarks/eval_real.py [--data ../shared/realdata/glioma] [--model DIR] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.evaluation.artifacts import band_bias, checkerboard_index
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
    return {"case": case.case_id, "lesion_ml": float(lesion.sum() * np.prod(case.reference.GetSpacing()) / 1000),
            "contrasts": {c: {
                "repaint": {k: model[f"{k}_{c}"] for k in ("mae", "psnr", "ssim")},
                "ring_mean": {k: baseline[f"{k}_{c}"] for k in ("mae", "psnr", "ssim")},
                "mae_ratio": model[f"mae_{c}"] / baseline[f"mae_{c}"],
                "checkerboard_index": checkerboard_index(painted[0][i], real[i], lesion),
                "band_bias": band_bias(painted[0][i], real[i], region, lesion),
                "seed_ssim": lesion_ssim(painted[0][i:i + 1], painted[1][i:i + 1], lesion),
            } for i, c in enumerate(contrasts)},
            "removal_flair_ratio": float(sitk.GetArrayFromImage(removed)[lesion].mean() / source["flair"][mirrored].mean())}


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
