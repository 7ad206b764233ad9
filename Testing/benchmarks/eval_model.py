"""Validation metrics of a model on held-out phantom cases, beside two baselines.

For each case the model repaints the case's own lesion region from its label; the metrics
(:mod:`SynthPathologyLib.training.validation`: MAE in the region and per label, PSNR, SSIM, in normalized
units) compare it with the real phantom image. Baselines: the region filled with the local mean
of the surrounding brain, and the same phantom anatomy without the lesion (its ``phantom.json``
seed, drawn healthy). Prints one JSON object.

    python Testing/benchmarks/eval_model.py --data data/phantom1mm --cases Phantom-00012 Phantom-00013 [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from SynthPathologyLib.io.brats import read_brats_case
from SynthPathologyLib.phantom.generator import PhantomOptions, make_phantom_case
from SynthPathologyLib.synthesis.synthesizer import Synthesizer
from SynthPathologyLib.training.validation import baseline_region, inpainting_metrics, local_mean_fill


def healthy_twin(folder: Path) -> dict[str, np.ndarray]:
    """The case's phantom drawn again from its seed without tumor (same anatomy, scanner, noise)."""
    provenance = json.loads((folder / "phantom.json").read_text())
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in provenance["options"].items()}
    twin = make_phantom_case(provenance["case_seed"], PhantomOptions(**{**options, "healthy": True})).case
    return {c: sitk.GetArrayFromImage(i) for c, i in twin.images.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--cases", nargs="+", required=True)
    parser.add_argument("--model")
    args = parser.parse_args()

    synthesizer = Synthesizer(args.model, device="cpu")
    contrasts = list(synthesizer.card.contrasts)
    names = {info.value: info.abbreviation for info in synthesizer.pathology.labels}
    rows: dict[str, list[dict]] = {"model": [], "local_mean": [], "healthy_phantom": []}
    for name in args.cases:
        folder = args.data / name
        case = read_brats_case(folder, require_label=True)
        result = synthesizer.synthesize(case, case.label, random_seed=0)
        region = sitk.GetArrayViewFromImage(result.region) > 0
        assert np.array_equal(region, baseline_region(case, synthesizer.card.margin_mm))
        candidates = {
            "model": {c: sitk.GetArrayViewFromImage(result.case.images[c]) for c in contrasts},
            "local_mean": local_mean_fill(case, region, contrasts),
            "healthy_phantom": healthy_twin(folder),
        }
        for key, arrays in candidates.items():
            rows[key].append(inpainting_metrics(case, arrays, region, contrasts, names))
    summary = {key: {metric: round(statistics.mean(r[metric] for r in values if metric in r), 4)
                     for metric in values[0]} for key, values in rows.items()}
    print(json.dumps({"model_id": synthesizer.card.model_id, "cases": args.cases, "metrics": summary}, indent=2))


if __name__ == "__main__":
    main()
