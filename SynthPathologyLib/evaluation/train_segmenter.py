"""Train the evaluation segmenter (label consistency and FID/KID features) on real labelled cases:

    python -m SynthPathologyLib.evaluation.train_segmenter --data DIR --out MODEL_DIR [--steps N] ...

The last ``--validation-cases`` cases of ``DIR`` (BraTS layout) are held out; their Dice and HD95
per region go into the model card with the data, command, wall time and hardware. Exits 0 when
done, 2 on a user error, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from ..cli.options import positive_int
from ..core.errors import SynthPathologyError
from ..io.brats import read_brats_case
from ..synthesis.synthesizer import resolve_device
from ..training.data import split_cases
from .overlap import overlap_scores
from .segmenter import NetworkInput, Segmenter, SegmenterCard, network_input, save_segmenter, segment
from .segmenter_training import TrainingSettings, train_segmenter


def read_inputs(folders: list[Path], card: SegmenterCard, progress: bool = True) -> list[NetworkInput]:
    """Each labelled case of ``folders`` as the segmenter sees it."""
    return [network_input(read_brats_case(f, contrasts=tuple(card.contrasts), require_label=True), card)
            for f in tqdm(folders, desc="reading cases", unit="case", disable=not progress, leave=False)]


def mean_scores(segmenter: Segmenter, cases: list[NetworkInput]) -> dict[str, dict[str, float]]:
    """Mean Dice and HD95 (mm) per region of ``segmenter`` on ``cases``."""
    rows = [overlap_scores(segment(segmenter, c), c.label, segmenter.card.spacing_mm, segmenter.card.regions)
            for c in cases]
    return {region: {key: float(np.mean([row[region][key] for row in rows])) for key in rows[0][region]}
            for region in rows[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the evaluation segmenter (SegResNet) on labelled cases.")
    parser.add_argument("--data", required=True, help="BraTS-layout dataset with labels")
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--model-id", default="glioma_phantom_segresnet")
    parser.add_argument("--steps", type=positive_int, default=600)
    parser.add_argument("--batch-size", type=positive_int, default=2)
    parser.add_argument("--validation-cases", type=int, default=3)
    parser.add_argument("--spacing", type=float, default=2.0, help="isotropic working spacing in mm (default 2)")
    parser.add_argument("--patch", type=positive_int, default=32, help="patch side in voxels, a multiple of 8")
    parser.add_argument("--init-filters", type=positive_int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    try:
        started = time.perf_counter()
        card = SegmenterCard(model_id=args.model_id, pathology="glioma", contrasts=["t1", "t1c", "t2", "flair"],
                             spacing_mm=[args.spacing] * 3, patch_size=[args.patch] * 3, feature_crop=48,
                             init_filters=args.init_filters, blocks_down=[1, 2, 2, 4])
        train_folders, validation_folders = split_cases(args.data, args.validation_cases)
        device = resolve_device(args.device)
        settings = TrainingSettings(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
        segmenter = train_segmenter(read_inputs(train_folders, card), card, settings, device)
        card.metrics = {"held_out_cases": [f.name for f in validation_folders],
                        **mean_scores(segmenter, read_inputs(validation_folders, card))}
        card.training = {"data": str(args.data), "command": " ".join(["python -m SynthPathologyLib.evaluation."
                                                                      "train_segmenter", *sys.argv[1:]]),
                         "training_cases": len(train_folders), "steps": args.steps, "batch_size": args.batch_size,
                         "seed": args.seed, "wall_time_s": round(time.perf_counter() - started, 1),
                         "hardware": f"{device.type}, {platform.machine()}, {torch.get_num_threads()} threads",
                         "library_version": __version__}
        save_segmenter(args.out, segmenter.network, card)
        print(f"wrote {args.out}: held-out Dice " + ", ".join(
            f"{r} {card.metrics[r]['dice']:.3f}" for r in card.regions))
        return 0
    except SynthPathologyError as exc:
        print(f"train_segmenter: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train_segmenter: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
