"""Command-line verbs that run the generator: ``synthesize``, ``remove`` and ``demo``, ``montage`` to
look at what they wrote, and the registration of these with ``augment`` (:mod:`.augment`); see
:mod:`SynthPathologyLib.cli.main` for the shared conventions."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from .augment import add_augment_command
from .cases import case_folders, insert, read_case, run_cases, write_result
from .options import (
    add_command,
    add_dataset_out_option,
    add_insertion_options,
    add_lesion_options,
    add_model_options,
    add_random_seed_option,
    add_synthesizer_options,
    lesion_spec_from_args,
    positive_int,
    synthesizer_from_args,
)

# Deep left-hemisphere white matter of the MNI152 brain (RAS mm): the demo's default seed.
DEMO_SEED_RAS = (-26.0, -12.0, 28.0)
DEMO_DIAMETER_MM = 30.0
# A lesion keeping less than this fraction of its asked core volume (clipped) is said so.
CLIPPED_NOTE = 0.95


def cmd_synthesize(args: argparse.Namespace) -> int:
    """Synthesize a lesion at a seed (RAS mm) into a BraTS case folder, or into every case of a dataset
    in a common space (BraTS cases are); writes a dataset: one case folder with provenance.json per
    case and variant. The case's own lesions keep their labels."""
    from ..io.dataset_writer import DatasetWriter
    from ..lesions.existing import check_seed_clear
    from ..lesions.placement import kept_core
    from ..synthesis.insertion import prepare_beside_existing

    synthesizer = synthesizer_from_args(args)
    if args.label_from:
        return _synthesize_library_lesion(args, synthesizer)
    spec = lesion_spec_from_args(args, synthesizer.card.pathology)
    writer = DatasetWriter(args.out, "synthesize")

    def work(folder: Path) -> None:
        ids = [f"{folder.name}-synth{variant:02d}" for variant in range(args.variants)]
        if all(writer.done(i) for i in ids):
            return
        case = read_case(folder, synthesizer, args)
        prepared, _ = prepare_beside_existing(synthesizer, case, args.gap_mm)
        check_seed_clear(spec.center_lps, prepared.mask, args.gap_mm)
        for variant, case_id in enumerate(ids):
            if writer.done(case_id):
                continue
            result = insert(synthesizer, prepared, replace(spec, random_seed=spec.random_seed + variant), args)
            result.case.case_id = case_id
            kept, asked = kept_core(result.label, spec)
            if kept < CLIPPED_NOTE * asked:
                print(f"{case_id}: the core was clipped at the brain's edge or beside the existing lesion: "
                      f"kept {kept / 1000:.1f} ml of {asked / 1000:.1f} ml")
            folder_out = write_result(writer, result, args, folder, gap_mm=args.gap_mm,
                                core_kept_ml=round(kept / 1000, 2), core_asked_ml=round(asked / 1000, 2))
            print(f"wrote {folder_out}")

    return run_cases(case_folders(args.case, "synthesize"), writer, work)


def _synthesize_library_lesion(args: argparse.Namespace, synthesizer) -> int:
    """``synthesize --label-from FILE``: the file's lesion placed at the seed (core centroid), with
    ``--orientation`` and ``--scale``, into each case."""
    from ..core.image_io import ras_to_lps
    from ..io.dataset_writer import DatasetWriter
    from ..lesions.existing import check_seed_clear
    from ..lesions.library import read_library_label
    from ..lesions.placement import place_label_map
    from ..synthesis.insertion import prepare_beside_existing

    pathology = synthesizer.card.pathology
    source = read_library_label(args.label_from, pathology)
    center = ras_to_lps(args.seed_ras)
    writer = DatasetWriter(args.out, "synthesize")

    def work(folder: Path) -> None:
        ids = [f"{folder.name}-synth{variant:02d}" for variant in range(args.variants)]
        if all(writer.done(i) for i in ids):
            return
        prepared, _ = prepare_beside_existing(synthesizer, read_case(folder, synthesizer, args), args.gap_mm)
        check_seed_clear(center, prepared.mask, args.gap_mm)
        label = place_label_map(source, prepared.case.reference, center, prepared.mask, scale=args.scale,
                                orientation_deg=args.orientation, pathology=pathology)
        lesion = {"label_from": str(args.label_from), "center_lps": list(center),
                  "orientation_deg": list(args.orientation), "scale": args.scale}
        for variant, case_id in enumerate(ids):
            if writer.done(case_id):
                continue
            result = insert(synthesizer, prepared, label, args, args.random_seed + variant, lesion)
            result.case.case_id = case_id
            print(f"wrote {write_result(writer, result, args, folder, gap_mm=args.gap_mm)}")

    return run_cases(case_folders(args.case, "synthesize"), writer, work)


def cmd_remove(args: argparse.Namespace) -> int:
    """Inpaint healthy tissue over a case's labelled lesion; writes a dataset."""
    from ..io.dataset_writer import DatasetWriter

    synthesizer = synthesizer_from_args(args)
    writer = DatasetWriter(args.out, "remove")

    def work(folder: Path) -> None:
        case_id = f"{folder.name}-healthy"
        if writer.done(case_id):
            return
        result = synthesizer.remove_lesion(read_case(folder, synthesizer, args, require_label=True),
                                           random_seed=args.random_seed)
        result.case.case_id = case_id
        print(f"wrote {write_result(writer, result, args, folder)}")

    return run_cases(case_folders(args.case, "remove"), writer, work)


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the default brain (MNI152 phantom), place a 30 mm glioma in the left white matter,
    synthesize it with the shipped model and write the case and before/after PNG montages."""
    from ..core.durable import atomic_write_bytes
    from ..core.image_io import ras_to_lps
    from ..io.brats import write_brats_case
    from ..io.montage import save_montage
    from ..lesions.spec import LesionSpec
    from ..phantom.generator import default_brain_phantom

    started = time.perf_counter()
    out = Path(args.out)
    synthesizer = synthesizer_from_args(args)
    print("building the default brain (MNI152 phantom, 1 mm, healthy)...")
    phantom = default_brain_phantom(resolution_mm=1.0)
    brain = phantom.case
    prepared = synthesizer.prepare(brain, white_matter=phantom.tissues.wm)  # known: no need to estimate it
    spec = LesionSpec(center_lps=ras_to_lps(DEMO_SEED_RAS), diameters_mm=(DEMO_DIAMETER_MM,) * 3,
                      pathology=synthesizer.card.pathology, random_seed=args.random_seed)
    result = synthesizer.synthesize(prepared, spec)
    result.case.case_id = "DefaultBrain-synth"
    write_brats_case(result.case, out / "synthetic", "2023")
    atomic_write_bytes(out / "synthetic" / "provenance.json", (json.dumps(result.provenance, indent=2) + "\n").encode())
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
    """Write a PNG: rows axial, coronal, sagittal through the lesion (or brain centre); columns the
    contrasts and the label over the last one. Given a dataset, one <case>.png per case in the --out
    folder."""
    from ..io.brats import is_brats_case, read_brats_case
    from ..io.montage import save_montage

    if is_brats_case(Path(args.case)):
        print(f"wrote {save_montage(read_brats_case(args.case, contrasts=()), args.out)}")
        return 0
    folders = case_folders(args.case, "montage")
    out = Path(args.out)
    for folder in tqdm(folders, desc="montage", unit="case"):
        save_montage(read_brats_case(folder, contrasts=()), out / f"{folder.name}.png")
    print(f"wrote {len(folders)} montage(s) to {out}")
    return 0


def add_synthesis_commands(commands: argparse._SubParsersAction) -> None:
    """Add the generator's verbs to the top-level sub-command parser, in the order ``--help`` lists
    them: ``synthesize``, ``remove``, ``augment``, ``demo``, ``montage``."""
    synthesize = add_command(commands, "synthesize", cmd_synthesize,
                             help="paint a lesion at a seed into a case (or every case of a dataset)")
    synthesize.add_argument("--case", required=True, help="BraTS case folder, or a dataset folder of them")
    add_lesion_options(synthesize)
    synthesize.add_argument("--label-from", metavar="FILE",
                            help="take the lesion's shape from this segmentation (any grid; BraTS 2021 or 2023 "
                                 "values) instead of generating one: its core centroid goes to the seed, turned by "
                                 "--orientation and scaled by --scale (--diameter is then not used)")
    synthesize.add_argument("--scale", type=float, default=1.0, help="scale of a --label-from lesion (default 1)")
    synthesize.add_argument("--variants", type=positive_int, default=1,
                            help="number of variants (random seeds S, S+1, ...; default 1)")
    add_dataset_out_option(synthesize)
    add_insertion_options(synthesize)
    add_model_options(synthesize)

    remove = add_command(commands, "remove", cmd_remove,
                         help="pseudo-healthy version of a case with a lesion (or of every case of a dataset)")
    remove.add_argument("--case", required=True, help="BraTS case folder with a segmentation, or a dataset of them")
    add_dataset_out_option(remove)
    add_random_seed_option(remove)
    add_model_options(remove)

    add_augment_command(commands)

    demo = add_command(commands, "demo", cmd_demo,
                       help="the default brain with a synthetic glioma: NIfTI files and before/after montages")
    demo.add_argument("--out", required=True, help="output folder")
    add_random_seed_option(demo)
    add_synthesizer_options(demo)

    montage = add_command(
        commands, "montage", cmd_montage,
        help="PNG montage of a case (or of every case of a dataset): contrasts and label in three planes")
    montage.add_argument("--case", required=True, help="BraTS case folder, or a dataset folder of them")
    montage.add_argument("--out", required=True, help="output .png (a folder when --case is a dataset)")
