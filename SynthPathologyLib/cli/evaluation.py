"""The ``synthpathology evaluate`` command: fidelity, downstream, repaint.

Library modules are imported inside each command, so ``synthpathology --help`` stays light.
"""

from __future__ import annotations

import argparse
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


def add_evaluation_commands(commands) -> None:
    """Add ``evaluate fidelity|downstream|repaint`` to the top-level sub-command parser."""
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
    downstream.add_argument("--steps", type=positive_int, default=2000, help="training steps per arm (default 2000)")
    downstream.add_argument("--batch-size", type=positive_int, default=2, help="patches per step (default 2)")
    downstream.add_argument("--patch", type=positive_int, default=48, help="patch side in voxels, multiple of 8")
    downstream.add_argument("--init-filters", type=positive_int, default=8, help="SegResNet width (default 8)")
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
