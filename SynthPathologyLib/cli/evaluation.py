"""The ``synthpathology evaluate`` command: fidelity, downstream, repaint, inpainting,
inpainting-task, classifier, train-segmenter.

Library modules are imported inside each command, so ``synthpathology --help`` stays light.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from .options import (
    add_command,
    add_command_group,
    add_device_option,
    add_synthesizer_options,
    positive_int,
    synthesizer_from_args,
)


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return values


def _count(text: str) -> int:
    """A whole number >= 0 (argparse type)."""
    value = int(text) if text.strip().isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def cmd_fidelity(args: argparse.Namespace) -> int:
    """Compare a synthetic BraTS-layout dataset (with provenance.json) with a real one: PSNR/SSIM/MAE
    inside the lesion where a synthetic case repaints a real one, FID/KID/precision/recall on the
    segmenter's features and the Fréchet Radiomics Distance per contrast beside real-vs-real
    baselines, MS-SSIM among variants of one seed, and the segmenter's Dice against the conditioning
    labels. Writes metrics.json, metrics.csv and summary.md."""
    from ..evaluation.datasets import case_folders, synthetic_entries
    from ..evaluation.fidelity import evaluate_fidelity
    from ..evaluation.reports import fidelity_markdown, write_csv, write_json
    from ..evaluation.segmenter import load_segmenter
    from ..synthesis.synthesizer import resolve_device

    started = time.perf_counter()
    case_folders(args.real, "real")  # bad input fails before the segmenter loads
    synthetic_entries(args.synthetic)
    segmenter = load_segmenter(args.segmenter).to(resolve_device(args.device))
    result = evaluate_fidelity(args.real, args.synthetic, segmenter, frd_slices=args.frd_slices)
    result.summary["wall_time_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", result.summary)
    write_csv(out / "metrics.csv", result.rows)
    (out / "summary.md").write_text(fidelity_markdown(result.summary), encoding="utf-8")
    distribution = result.summary["distribution"]
    if "skipped" in distribution:
        print(f"FID/KID skipped: {distribution['skipped']}")
    else:
        print(f"FID {distribution['fid']['synthetic']:.4g} (real-vs-real {distribution['fid']['baseline']:.4g}), "
              f"KID {distribution['kid']['synthetic']:.3g} (real-vs-real {distribution['kid']['baseline']:.3g})")
    for contrast, frd in result.summary["frd"].items():
        print(f"FRD {contrast}: " + (f"skipped: {frd['skipped']}" if "skipped" in frd else
                                     f"{frd['synthetic']:.3g} (real-vs-real {frd['baseline']:.3g})"))
    if result.summary["segmenter"].get("warning"):
        print(f"warning: {result.summary['segmenter']['warning']}")
    print(f"wrote {out}/metrics.json, metrics.csv, summary.md in {result.summary['wall_time_s']:.0f} s")
    return 0


def cmd_downstream(args: argparse.Namespace) -> int:
    """Train a MONAI SegResNet on each fraction of the real training cases with each real:synthetic
    ratio, test on held-out real patients, and report Dice and HD95 per region, voxel-wise and
    lesion-wise (BraTS 2023), with CIs, Wilcoxon tests and bootstrap CIs of the gain. Writes
    split.json, scores.csv, summary.json and dice.png."""
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
            gain, lesion_gain = entry["gain"]["dice"], entry["gain"]["lesion_dice"]
            p_value = gain["wilcoxon_p"] if gain["wilcoxon_p"] is not None else "n/a"
            print(f"fraction {entry['fraction']:g}, ratio {entry['ratio']:g}, {entry['region']}: Dice gain "
                  f"{gain['mean_gain']:+.3f} (Wilcoxon p {p_value}), "
                  f"lesion-wise Dice gain {lesion_gain['mean_gain']:+.3f}")
    print(f"wrote {out}/split.json, scores.csv, summary.json, dice.png in {result.summary['wall_time_s']:.0f} s")
    return 0


def cmd_repaint(args: argparse.Namespace) -> int:
    """Paint each real case's lesion again from its own label, with several random seeds: synthetic
    cases whose real counterpart is the ground truth."""
    from ..evaluation.repaint import repaint_dataset

    folders = repaint_dataset(args.real, args.out, synthesizer_from_args(args), args.variants)
    print(f"wrote {len(folders)} case(s) to {args.out}")
    return 0


def cmd_inpainting(args: argparse.Namespace) -> int:
    """Score inpainted T1 images against the real ones with the BraTS 2023 inpainting challenge's
    official package: SSIM, PSNR and MSE inside each case's healthy mask, after the challenge's
    percentile normalization by the voided image. BraTS 2023 layout: --masks holds case folders with
    <case>-mask-healthy.nii.gz (and <case>-t1n-voided.nii.gz or <case>-mask.nii.gz), --real
    <case>-t1n.nii.gz, --inpainted <case>-t1n-inference.nii.gz, in case folders or flat. Writes
    inpainting.json and inpainting.csv."""
    from tqdm import tqdm

    from ..evaluation.inpainting import RANKED_METRICS, inpainting_cases, score_inpainting_case, summarize_inpainting
    from ..evaluation.reports import write_csv, write_json

    started = time.perf_counter()
    cases = inpainting_cases(args.real, args.inpainted, args.masks)
    rows = [score_inpainting_case(files) for files in tqdm(cases, desc="scoring", unit="case")]
    summary = {"real": str(args.real), "inpainted": str(args.inpainted), "masks": str(args.masks),
               "n_cases": len(rows), "metrics": summarize_inpainting(rows), "cases": rows,
               "wall_time_s": round(time.perf_counter() - started, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "inpainting.csv", rows)
    write_json(out / "inpainting.json", summary)
    print(", ".join(f"{key.upper()} {summary['metrics'][key]['mean']:.4g}" for key in RANKED_METRICS)
          + f" (mean of {len(rows)} case(s), healthy mask)")
    print(f"wrote {out}/inpainting.json, inpainting.csv in {summary['wall_time_s']:.0f} s")
    return 0


def cmd_inpainting_task(args: argparse.Namespace) -> int:
    """For each labelled case (BraTS space), write a BraTS 2023 inpainting case: the real T1
    (<case>-t1n), the lesion (-mask-unhealthy), the lesion mirrored left-right into healthy brain
    (-mask-healthy, the scored region), their union (-mask) and every contrast with it voided
    (<case>-<contrast>-voided, as `synthpathology inpaint` reads them)."""
    from ..evaluation.inpainting_task import write_inpainting_task

    folders = write_inpainting_task(args.real, args.out, args.margin)
    print(f"wrote {len(folders)} inpainting case(s) to {args.out}")
    return 0


def cmd_classifier(args: argparse.Namespace) -> int:
    """Cross-validate a random forest on the radiomics (FRD) features of lesion-centred crops to tell
    real from synthetic lesions, with patient-level folds (a synthetic case goes with the patient of
    its provenance.json source_case). Reports accuracy and ROC AUC with patient-bootstrap 95% CIs and
    the features it relies on most. Writes classifier.json and classifier.csv."""
    from ..evaluation.classifier import classifier_test, collect_samples
    from ..evaluation.reports import write_csv, write_json

    started = time.perf_counter()
    contrasts = tuple(c.strip() for c in args.contrasts.split(",") if c.strip())
    samples = collect_samples(args.real, args.synthetic, contrasts, args.slices, args.folds)
    result = classifier_test(samples, args.folds, args.seed)
    result.update(real=str(args.real), synthetic=str(args.synthetic), contrasts=list(contrasts),
                  slices_per_lesion=args.slices, wall_time_s=round(time.perf_counter() - started, 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "classifier.csv", result["cases"])
    write_json(out / "classifier.json", result)
    print("; ".join(f"{name} {result[key]['value']:.3f} [{result[key]['ci_low']:.3f}, {result[key]['ci_high']:.3f}]"
                    for key, name in (("accuracy", "accuracy"), ("roc_auc", "ROC AUC")))
          + f" over {result['n']['cases']} lesions (0.5: cannot tell); "
          f"top feature {result['top_features'][0]['feature']}")
    print(f"wrote {out}/classifier.json, classifier.csv in {result['wall_time_s']:.0f} s")
    return 0


def cmd_train_segmenter(args: argparse.Namespace) -> int:
    """Train the segmenter whose Dice gives fidelity's label consistency and whose encoder features give
    FID/KID. The last --validation-cases cases of --data are held out; their Dice and HD95 per region
    go into the model card with the data, command, wall time and hardware."""
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


def _add_datasets(parser: argparse.ArgumentParser, synthetic: bool = True) -> None:
    """--real, --synthetic (when ``synthetic``) and --out."""
    parser.add_argument("--real", required=True, help="real BraTS-layout dataset with labels")
    if synthetic:
        parser.add_argument("--synthetic", required=True, help="synthetic dataset (case folders with provenance.json)")
    parser.add_argument("--out", required=True, help="output folder")


def add_evaluation_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` verbs to the top-level sub-command parser."""
    verbs = add_command_group(
        commands, "evaluate", "verb", "VERB",
        help="fidelity metrics and the downstream segmentation gain of synthetic data",
        description="Measure synthetic data against real data: fidelity metrics, and whether it helps train a "
                    "segmentation network.")

    fidelity = add_command(verbs, "fidelity", cmd_fidelity,
                           help="paired, distribution, diversity and label-consistency metrics")
    fidelity.add_argument("--segmenter", help="segmenter model folder (default: the shipped one)")
    fidelity.add_argument("--frd-slices", type=_count, default=8,
                          help="lesion-centred 2D crops per lesion and contrast for the Fréchet Radiomics Distance "
                               "(default 8; 0 leaves FRD out)")

    downstream = add_command(verbs, "downstream", cmd_downstream,
                             help="segmentation trained on real vs real + synthetic, tested on real cases")
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

    for parser in (fidelity, downstream):
        _add_datasets(parser)
        add_device_option(parser)

    repaint = add_command(verbs, "repaint", cmd_repaint,
                          help="repaint each real case's own lesion (synthetic counterparts for paired metrics)")
    _add_datasets(repaint, synthetic=False)
    repaint.add_argument("--variants", type=positive_int, default=2, help="random seeds per case (default 2)")
    add_synthesizer_options(repaint)

    inpainting = add_command(verbs, "inpainting", cmd_inpainting,
                             help="BraTS 2023 inpainting metrics (SSIM, PSNR, MSE in the healthy mask)")
    inpainting.add_argument("--real", required=True, help="folder with the ground-truth <case>-t1n images")
    inpainting.add_argument("--inpainted", required=True, help="folder with the inpainted <case>-t1n-inference images")
    inpainting.add_argument("--masks", required=True, help="folder of case folders with <case>-mask-healthy")
    inpainting.add_argument("--out", required=True, help="output folder")

    task = add_command(verbs, "inpainting-task", cmd_inpainting_task,
                       help="a BraTS 2023 inpainting task from labelled cases (for `evaluate inpainting`)")
    _add_datasets(task, synthetic=False)
    task.add_argument("--margin", type=float, default=5.0,
                      help="least distance of the healthy mask from the lesion, mm (default 5)")

    classifier = add_command(
        verbs, "classifier", cmd_classifier,
        help="can a classifier tell synthetic lesions from real ones? (radiomics, patient-level CV)")
    _add_datasets(classifier)
    classifier.add_argument("--contrasts", default="t1,t1c,t2,flair", help="contrasts (default t1,t1c,t2,flair)")
    classifier.add_argument("--folds", type=positive_int, default=5, help="cross-validation folds, >= 2 (default 5)")
    classifier.add_argument("--slices", type=positive_int, default=8,
                            help="lesion-centred 2D crops per lesion (default 8)")
    classifier.add_argument("--seed", type=int, default=0, help="random seed of folds, forest and bootstrap")

    train = add_command(verbs, "train-segmenter", cmd_train_segmenter,
                        help="train the evaluation segmenter (SegResNet) on labelled cases")
    _add_segmenter_training_options(train, steps=600, patch=32, init_filters=4)
    train.add_argument("--data", required=True, help="BraTS-layout dataset with labels")
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--model-id", default="glioma_phantom_segresnet", help="name written into the model card")
    train.add_argument("--validation-cases", type=int, default=3, help="cases held out for the card's scores")
    train.add_argument("--spacing", type=float, default=2.0, help="isotropic working spacing in mm (default 2)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_device_option(train)
