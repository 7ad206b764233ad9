"""The ``synthpathology evaluate`` command: fidelity, downstream, repaint, train-segmenter.

Library modules are imported inside each command, so ``synthpathology --help`` stays light.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from .options import positive_int


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return values


def cmd_fidelity(args: argparse.Namespace) -> int:
    from ..evaluation.datasets import case_folders, synthetic_entries
    from ..evaluation.fidelity import evaluate_fidelity
    from ..evaluation.reports import fidelity_markdown, write_csv, write_json
    from ..evaluation.segmenter import load_segmenter
    from ..synthesis.synthesizer import resolve_device

    started = time.perf_counter()
    case_folders(args.real, "real")  # bad input fails before the segmenter loads
    synthetic_entries(args.synthetic)
    segmenter = load_segmenter(args.segmenter).to(resolve_device(args.device))
    result = evaluate_fidelity(args.real, args.synthetic, segmenter)
    result.summary["wall_time_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", result.summary)
    write_csv(out / "metrics.csv", result.rows)
    (out / "summary.md").write_text(fidelity_markdown(result.summary), encoding="utf-8")
    distribution = result.summary["distribution"]
    print(f"FID {distribution['fid']['synthetic']:.4g} (real-vs-real {distribution['fid']['baseline']:.4g}), "
          f"KID {distribution['kid']['synthetic']:.3g} (real-vs-real {distribution['kid']['baseline']:.3g})")
    print(f"wrote {out}/metrics.json, metrics.csv, summary.md in {result.summary['wall_time_s']:.0f} s")
    return 0


def cmd_downstream(args: argparse.Namespace) -> int:
    from ..evaluation.downstream import DownstreamSettings, run_downstream
    from ..evaluation.reports import downstream_plot, write_csv, write_json
    from ..synthesis.synthesizer import resolve_device

    started = time.perf_counter()
    settings = DownstreamSettings(fractions=args.fractions, ratios=args.ratios, seeds=args.seeds,
                                  test_fraction=args.test_fraction, split_seed=args.split_seed, steps=args.steps,
                                  batch_size=args.batch_size, patch=args.patch, init_filters=args.init_filters,
                                  drop_leaking=args.drop_leaking)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = run_downstream(args.real, args.synthetic, settings, resolve_device(args.device),
                            on_split=lambda split: split.write(out / "split.json"))
    result.summary["wall_time_s"] = round(time.perf_counter() - started, 1)
    write_csv(out / "scores.csv", result.rows)
    write_json(out / "summary.json", result.summary)
    downstream_plot(result.summary, out / "dice.png")
    for entry in result.summary["results"]:
        if "gain" in entry:
            gain = entry["gain"]["dice"]
            print(f"fraction {entry['fraction']:g}, ratio {entry['ratio']:g}, {entry['region']}: Dice gain "
                  f"{gain['mean_gain']:+.3f} (Wilcoxon p {gain['wilcoxon_p'] if gain['wilcoxon_p'] is not None else 'n/a'})")
    print(f"wrote {out}/split.json, scores.csv, summary.json, dice.png in {result.summary['wall_time_s']:.0f} s")
    return 0


def cmd_repaint(args: argparse.Namespace) -> int:
    from ..evaluation.repaint import repaint_dataset
    from ..synthesis.synthesizer import Synthesizer

    folders = repaint_dataset(args.real, args.out, Synthesizer(args.model, device=args.device), args.variants)
    print(f"wrote {len(folders)} case(s) to {args.out}")
    return 0


def cmd_train_segmenter(args: argparse.Namespace) -> int:
    import torch

    from .. import __version__
    from ..evaluation.segmenter_training import TrainingSettings, mean_scores, read_inputs, train_segmenter
    from ..models.card import save_model
    from ..models.segmenter import SegmenterCard
    from ..synthesis.synthesizer import resolve_device
    from ..training.data import split_cases

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
    card.training = {"data": str(args.data), "command": args.command_line, "training_cases": len(train_folders),
                     "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
                     "wall_time_s": round(time.perf_counter() - started, 1),
                     "hardware": f"{device.type}, {platform.machine()}, {torch.get_num_threads()} threads",
                     "library_version": __version__}
    save_model(args.out, segmenter.network, card)
    print(f"wrote {args.out}: held-out Dice " + ", ".join(f"{r} {card.metrics[r]['dice']:.3f}" for r in card.regions))
    return 0


def _add_segmenter_training_options(parser: argparse.ArgumentParser, steps: int, patch: int,
                                    init_filters: int) -> None:
    """The options of one SegResNet training run, with their defaults for ``parser``'s command."""
    parser.add_argument("--steps", type=positive_int, default=steps, help=f"training steps (default {steps})")
    parser.add_argument("--batch-size", type=positive_int, default=2, help="patches per step (default 2)")
    parser.add_argument("--patch", type=positive_int, default=patch,
                        help=f"patch side in voxels, a multiple of 8 (default {patch})")
    parser.add_argument("--init-filters", type=positive_int, default=init_filters,
                        help=f"SegResNet width (default {init_filters})")


def add_evaluation_commands(commands) -> None:
    """Add ``evaluate fidelity|downstream|repaint|train-segmenter`` to the top-level sub-command parser."""
    evaluate = commands.add_parser(
        "evaluate", help="fidelity metrics and the downstream segmentation gain of synthetic data",
        description="Measure synthetic data against real data: fidelity metrics, and whether it helps train a "
                    "segmentation network.")
    verbs = evaluate.add_subparsers(dest="verb", required=True, metavar="VERB")

    fidelity = verbs.add_parser(
        "fidelity", help="paired, distribution, diversity and label-consistency metrics",
        description="Compare a synthetic BraTS-layout dataset (with provenance.json) with a real one: PSNR/SSIM/MAE "
                    "inside the lesion where a synthetic case repaints a real one, FID/KID/precision/recall on the "
                    "segmenter's features beside real-vs-real baselines, MS-SSIM among variants of one seed, and "
                    "the segmenter's Dice against the conditioning labels. Writes metrics.json, metrics.csv and "
                    "summary.md.")
    fidelity.add_argument("--segmenter", help="segmenter model folder (default: the shipped one)")

    downstream = verbs.add_parser(
        "downstream", help="segmentation trained on real vs real + synthetic, tested on real cases",
        description="Train a MONAI SegResNet on each fraction of the real training cases with each real:synthetic "
                    "ratio, test on held-out real patients, and report Dice and HD95 per region with CIs, "
                    "Wilcoxon tests and bootstrap CIs of the gain. Writes split.json, scores.csv, summary.json "
                    "and dice.png.")
    downstream.add_argument("--fractions", type=_float_list, default=(0.1, 0.25, 0.5, 1.0),
                            help="fractions of the real training cases (default 0.1,0.25,0.5,1)")
    downstream.add_argument("--ratios", type=_float_list, default=(0.0, 1.0, 2.0),
                            help="synthetic cases per real case, including 0 (default 0,1,2)")
    downstream.add_argument("--seeds", type=positive_int, default=3, help="repetitions (default 3)")
    downstream.add_argument("--test-fraction", type=float, default=0.3, help="real patients held out (default 0.3)")
    downstream.add_argument("--split-seed", type=int, default=0, help="seed of the patient split (default 0)")
    _add_segmenter_training_options(downstream, steps=2000, patch=48, init_filters=8)
    downstream.add_argument("--drop-leaking", action="store_true",
                            help="leave out synthetic cases derived from test patients instead of refusing")

    for parser, run in ((fidelity, cmd_fidelity), (downstream, cmd_downstream)):
        parser.add_argument("--real", required=True, help="real BraTS-layout dataset with labels")
        parser.add_argument("--synthetic", required=True, help="synthetic dataset (case folders with provenance.json)")
        parser.add_argument("--out", required=True, help="output folder")
        parser.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu or cuda[:N]")
        parser.set_defaults(run=run)

    repaint = verbs.add_parser(
        "repaint", help="repaint each real case's own lesion (synthetic counterparts for paired metrics)",
        description="Paint each real case's lesion again from its own label, with several random seeds: synthetic "
                    "cases whose real counterpart is the ground truth.")
    repaint.add_argument("--real", required=True, help="real BraTS-layout dataset with labels")
    repaint.add_argument("--out", required=True, help="output folder")
    repaint.add_argument("--variants", type=positive_int, default=2, help="random seeds per case (default 2)")
    repaint.add_argument("--model", help="generator model folder (default: the shipped one)")
    repaint.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    repaint.set_defaults(run=cmd_repaint)

    train = verbs.add_parser(
        "train-segmenter", help="train the evaluation segmenter (SegResNet) on labelled cases",
        description="Train the segmenter whose Dice gives fidelity's label consistency and whose encoder features "
                    "give FID/KID. The last --validation-cases cases of --data are held out; their Dice and HD95 "
                    "per region go into the model card with the data, command, wall time and hardware.")
    _add_segmenter_training_options(train, steps=600, patch=32, init_filters=4)
    train.add_argument("--data", required=True, help="BraTS-layout dataset with labels")
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--model-id", default="glioma_phantom_segresnet", help="name written into the model card")
    train.add_argument("--validation-cases", type=int, default=3, help="cases held out for the card's scores")
    train.add_argument("--spacing", type=float, default=2.0, help="isotropic working spacing in mm (default 2)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    train.set_defaults(run=cmd_train_segmenter)
