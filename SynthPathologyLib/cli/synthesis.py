"""Command-line verbs that run the generator: ``synthesize``, ``remove``, ``augment``, ``demo`` and
``montage`` (see :mod:`SynthPathologyLib.cli.main` for the shared conventions)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from .options import add_lesion_options, add_resample_option, lesion_spec_from_args, positive_int

# Deep left-hemisphere white matter of the MNI152 brain (RAS mm): the demo's default seed.
DEMO_SEED_RAS = (-26.0, -12.0, 28.0)
DEMO_DIAMETER_MM = 30.0


def _synthesizer(args: argparse.Namespace):
    from ..synthesis.synthesizer import Synthesizer

    return Synthesizer(args.model, device=args.device)


def _write_result(result, folder: Path, naming: str) -> Path:
    from ..io.brats import write_brats_case

    write_brats_case(result.case, folder, naming)
    (folder / "provenance.json").write_text(json.dumps(result.provenance, indent=2) + "\n", encoding="utf-8")
    return folder


def cmd_synthesize(args: argparse.Namespace) -> int:
    from ..io.brats import read_brats_case
    synthesizer = _synthesizer(args)
    case = read_brats_case(args.case, contrasts=tuple(synthesizer.card.contrasts), resample=args.resample)
    prepared = synthesizer.prepare(case, estimate_white_matter=True)
    spec = lesion_spec_from_args(args, synthesizer.card.pathology)
    for variant in tqdm(range(args.variants), desc="variants", unit="case", disable=args.variants == 1):
        seeded = replace(spec, random_seed=spec.random_seed + variant)
        result = synthesizer.synthesize(prepared, seeded)
        result.case.case_id = f"{case.case_id}-synth{variant:02d}"
        folder = _write_result(result, Path(args.out) / result.case.case_id, args.naming)
        print(f"wrote {folder}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from ..io.brats import read_brats_case

    synthesizer = _synthesizer(args)
    case = read_brats_case(args.case, contrasts=tuple(synthesizer.card.contrasts), require_label=True,
                           resample=args.resample)
    result = synthesizer.remove_lesion(case, random_seed=args.random_seed)
    result.case.case_id = f"{case.case_id}-healthy"
    print(f"wrote {_write_result(result, Path(args.out) / result.case.case_id, args.naming)}")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.errors import CaseError
    from ..io.brats import find_brats_cases, read_brats_case

    synthesizer = _synthesizer(args)
    folders = find_brats_cases(args.data)
    if not folders:
        raise CaseError(f"{args.data}: no BraTS case folders found")
    written = 0
    for index, folder in enumerate(tqdm(folders, desc="augmenting", unit="case")):
        case = read_brats_case(folder, contrasts=tuple(synthesizer.card.contrasts), resample=args.resample)
        prepared = synthesizer.prepare(case, estimate_white_matter=True)
        rng = np.random.default_rng([args.seed, index])
        for k in range(args.per_case):
            result = _synthesize_somewhere(synthesizer, prepared, rng, tuple(args.diameter_range))
            result.case.case_id = f"{case.case_id}-aug{k:02d}"
            _write_result(result, Path(args.out) / result.case.case_id, args.naming)
            written += 1
    print(f"wrote {written} case(s) to {args.out}")
    return 0


def _synthesize_somewhere(synthesizer, prepared, rng, diameter_range, attempts: int = 20):
    """Synthesize a random plausible lesion, away from the case's own lesion; redraw when a
    drawn lesion does not fit."""
    import SimpleITK as sitk

    from ..core.errors import LesionPlacementError
    from ..lesions.sampling import random_lesion_spec

    case = prepared.case
    existing = None if case.label is None else sitk.GetArrayViewFromImage(case.label) > 0
    white_matter = sitk.GetArrayViewFromImage(prepared.white_matter)
    for _ in range(attempts):
        spec = random_lesion_spec(prepared.brain, white_matter, case.reference, rng, diameter_range,
                                  exclude=existing, pathology=synthesizer.card.pathology)
        if spec is None:
            continue
        try:
            return synthesizer.synthesize(prepared, spec)
        except LesionPlacementError:
            continue
    raise LesionPlacementError(
        f"case {case.case_id}: no room for a {diameter_range[0]:g}-{diameter_range[1]:g} mm lesion in deep white "
        f"matter after {attempts} attempts; try a smaller --diameter-range")


def cmd_demo(args: argparse.Namespace) -> int:
    from ..core.image_io import ras_to_lps
    from ..io.brats import write_brats_case
    from ..io.montage import save_montage
    from ..lesions.spec import LesionSpec
    from ..phantom.generator import default_brain_phantom

    started = time.perf_counter()
    out = Path(args.out)
    synthesizer = _synthesizer(args)
    print("building the default brain (MNI152 phantom, 1 mm, healthy)...")
    phantom = default_brain_phantom(resolution_mm=1.0)
    brain = phantom.case
    prepared = synthesizer.prepare(brain, white_matter=phantom.tissues.wm)  # known: no need to estimate it
    spec = LesionSpec(center_lps=ras_to_lps(DEMO_SEED_RAS), diameters_mm=(DEMO_DIAMETER_MM,) * 3,
                      random_seed=args.random_seed)
    result = synthesizer.synthesize(prepared, spec)
    result.case.case_id = "DefaultBrain-synth"
    _write_result(result, out / "synthetic", "2023")
    write_brats_case(brain, out / "original", "2023")
    center = tuple(spec.center_lps)
    save_montage(brain, out / "before.png", center_lps=center)
    save_montage(result.case, out / "after.png", center_lps=center)
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings_s.items())
    print(f"lesion at RAS {DEMO_SEED_RAS}, {DEMO_DIAMETER_MM:g} mm: {timing}")
    print(f"wrote {out}/synthetic (NIfTI + seg + provenance.json), {out}/before.png, {out}/after.png "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_montage(args: argparse.Namespace) -> int:
    from ..io.brats import read_brats_case
    from ..io.montage import save_montage

    print(f"wrote {save_montage(read_brats_case(args.case, contrasts=()), args.out)}")
    return 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model folder (default: the pathology's shipped model)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu or cuda[:N]")
    parser.add_argument("--naming", choices=("2021", "2023"), default="2023", help="BraTS file naming of the output")
    add_resample_option(parser)


def add_synthesis_commands(commands) -> None:
    """Add the generator's verbs to the top-level sub-command parser."""
    synthesize = commands.add_parser(
        "synthesize", help="paint a lesion at a seed into a case",
        description="Synthesize a lesion at a seed (RAS mm) into a BraTS case folder; writes one BraTS case "
                    "folder with provenance.json per variant.")
    synthesize.add_argument("--case", required=True, help="BraTS case folder")
    add_lesion_options(synthesize)
    synthesize.add_argument("--variants", type=positive_int, default=1,
                            help="number of variants (random seeds S, S+1, ...; default 1)")
    synthesize.add_argument("--out", required=True, help="output folder")
    _add_model_options(synthesize)
    synthesize.set_defaults(run=cmd_synthesize)

    remove = commands.add_parser(
        "remove", help="pseudo-healthy version of a case with a lesion",
        description="Inpaint healthy tissue over a case's labelled lesion.")
    remove.add_argument("--case", required=True, help="BraTS case folder with a segmentation")
    remove.add_argument("--out", required=True, help="output folder")
    remove.add_argument("--random-seed", type=int, default=0, help="random seed (default 0)")
    _add_model_options(remove)
    remove.set_defaults(run=cmd_remove)

    augment = commands.add_parser(
        "augment", help="insert lesions at random plausible places into every case of a dataset",
        description="The dataset factory: K synthetic lesions per case, placed in deep white matter away from "
                    "the brain's edge, written as a BraTS-layout dataset with labels and provenance.")
    augment.add_argument("--data", required=True, help="BraTS-layout dataset folder")
    augment.add_argument("--out", required=True, help="output dataset folder")
    augment.add_argument("--per-case", type=positive_int, default=1, help="lesions per case (default 1)")
    augment.add_argument("--diameter-range", type=float, nargs=2, default=(15.0, 40.0), metavar=("MIN", "MAX"),
                         help="tumor-core diameter range in mm (default 15 40)")
    augment.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _add_model_options(augment)
    augment.set_defaults(run=cmd_augment)

    demo = commands.add_parser(
        "demo", help="the default brain with a synthetic glioma: NIfTI files and before/after montages",
        description="Build the default brain (MNI152 phantom), place a 30 mm glioma in the left white matter, "
                    "synthesize it with the shipped model and write the case and before/after PNG montages.")
    demo.add_argument("--out", required=True, help="output folder")
    demo.add_argument("--random-seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--model", help="model folder (default: the shipped model)")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    demo.set_defaults(run=cmd_demo)

    montage = commands.add_parser(
        "montage", help="PNG montage of a case: contrasts and label in three planes",
        description="Write a PNG: rows axial, coronal, sagittal through the lesion (or brain centre); columns "
                    "the contrasts and the label over the last one.")
    montage.add_argument("--case", required=True, help="BraTS case folder")
    montage.add_argument("--out", required=True, help="output .png")
    montage.set_defaults(run=cmd_montage)
