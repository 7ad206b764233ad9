"""Command-line verbs that run the generator: ``synthesize``, ``remove`` and ``demo``, ``montage`` to
look at what they wrote, and the registration of these with ``augment`` (:mod:`.augment`); see
:mod:`SynthPathologyLib.cli.main` for the shared conventions."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ..core.errors import SynthPathologyError
from .augment import add_augment_command
from .cases import Lesions, case_folders, draw_lesions, insert, read_case, run_cases, write_result
from .options import (
    LESION_AT_SEED_OPTIONS,
    add_command,
    add_dataset_out_option,
    add_diameter_range_option,
    add_insertion_options,
    add_lesion_load_option,
    add_lesion_options,
    add_model_options,
    add_random_seed_option,
    add_seed_option,
    add_synthesizer_options,
    diameter_range_of,
    given_options,
    lesion_specs_from_args,
    orientation_of,
    positive_int,
    synthesizer_from_args,
)

if TYPE_CHECKING:
    import SimpleITK as sitk

    from ..lesions.spec import LesionSpec

# Deep left-hemisphere white matter of the MNI152 brain (RAS mm): the demo's default seed.
DEMO_SEED_RAS = (-26.0, -12.0, 28.0)
DEMO_DIAMETER_MM = 30.0
# A lesion keeping less than this fraction of its asked core volume (clipped) is said so.
CLIPPED_NOTE = 0.95


def cmd_synthesize(args: argparse.Namespace) -> int:
    """Synthesize lesions into a BraTS case folder, or into every case of a dataset in a common space
    (BraTS cases are): one at each --seed-ras (RAS mm), or --count random plausible lesions of the
    pathology, or as many as a --lesion-load takes; writes a dataset: one case folder with
    provenance.json (listing the lesions) per case and variant. The case's own lesions keep their
    labels."""
    from ..io.dataset_writer import DatasetWriter
    from ..lesions.library import read_library_label
    from ..synthesis.insertion import prepare_beside_existing

    _check_lesion_options(args)
    synthesizer = synthesizer_from_args(args)
    pathology = synthesizer.card.pathology
    if args.seed_ras is None:
        lesions_of = partial(_random_lesions, synthesizer, diameter_range_of(args, pathology), args)
    elif args.label_from:
        lesions_of = partial(_library_lesions, read_library_label(args.label_from, pathology), pathology, args)
    else:
        lesions_of = partial(_lesions_at_seeds, lesion_specs_from_args(args, pathology), args)
    writer = DatasetWriter(args.out, "synthesize")

    def work(folder: Path) -> None:
        ids = [f"{folder.name}-synth{variant:02d}" for variant in range(args.variants)]
        if all(writer.done(i) for i in ids):
            return
        prepared, csf = prepare_beside_existing(synthesizer, read_case(folder, synthesizer, args), args.gap_mm)
        for variant, case_id in enumerate(ids):
            if writer.done(case_id):
                continue
            lesions, extra = lesions_of(prepared, csf, variant, case_id)
            result = insert(synthesizer, prepared, lesions, args)
            result.case.case_id = case_id
            written = write_result(writer, result, args, folder, gap_mm=args.gap_mm, **extra)
            print(f"wrote {written}: {len(lesions.labels)} lesion(s)")

    return run_cases(case_folders(args.case, "synthesize"), writer, work)


def _check_lesion_options(args: argparse.Namespace) -> None:
    """Refuse options that do not go with the lesions asked for: a lesion's size, shape and
    composition are options of a --seed-ras lesion, random ones draw their own."""
    if args.seed_ras is None:
        stray = given_options(args, *LESION_AT_SEED_OPTIONS, "label_from")
        if stray:
            raise SynthPathologyError(f"{', '.join(stray)}: an option of lesions at --seed-ras; --count and "
                                      "--lesion-load draw each lesion's size, shape and composition")
    elif args.diameter_range is not None:
        raise SynthPathologyError("--diameter-range sizes the random lesions of --count and --lesion-load; "
                                  "give a --seed-ras lesion's size with --diameter or --diameters")


def _variant_seeds(first: int, count: int, variant: int) -> list[int]:
    """The random seeds of ``count`` lesions of ``variant``: S + variant x count, S + variant x count + 1, ...
    (with one lesion, S + variant)."""
    return [first + variant * count + k for k in range(count)]


def _lesions_at_seeds(specs: list[LesionSpec], args: argparse.Namespace, prepared, csf, variant: int,
                      case_id: str) -> tuple[Lesions, dict]:
    """The lesions ``specs`` describe (one per seed) in ``variant``'s random seeds, each in the room the
    case's lesions and the ones before it leave; says how much of a clipped core was kept. Returns
    the lesions and the provenance fields of the core volumes."""
    from ..lesions.placement import generate_lesion, kept_core

    specs = [replace(spec, random_seed=seed)
             for spec, seed in zip(specs, _variant_seeds(specs[0].random_seed, len(specs), variant))]
    labels = _placed_at_seeds(prepared, [spec.center_lps for spec in specs], args.gap_mm,
                              lambda k, room: generate_lesion(specs[k], room, room, prepared.white_matter))
    cores = [kept_core(label, spec) for label, spec in zip(labels, specs)]  # (kept, asked) mm^3 each
    for k, (core, wanted) in enumerate(cores):
        if core < CLIPPED_NOTE * wanted:
            print(f"{case_id}: the core at seed {k + 1} was clipped at the brain's edge or beside another lesion: "
                  f"kept {core / 1000:.1f} ml of {wanted / 1000:.1f} ml")
    kept, asked = np.sum(cores, axis=0)
    lesions = Lesions(labels, [spec.random_seed for spec in specs], [spec.to_dict() for spec in specs])
    return lesions, {"core_kept_ml": round(kept / 1000, 2), "core_asked_ml": round(asked / 1000, 2)}


def _library_lesions(source, pathology: str, args: argparse.Namespace, prepared, csf, variant: int,
                     case_id: str) -> tuple[Lesions, dict]:
    """``synthesize --label-from FILE``: the file's lesion (``source``) placed at each seed (its core
    centroid there), with ``--orientation`` and ``--scale``."""
    from ..core.image_io import ras_to_lps
    from ..lesions.placement import place_label_map

    centers = [ras_to_lps(seed) for seed in args.seed_ras]
    labels = _placed_at_seeds(prepared, centers, args.gap_mm, lambda k, room: place_label_map(
        source, room, centers[k], room, scale=args.scale, orientation_deg=orientation_of(args), pathology=pathology))
    described = [{"label_from": str(args.label_from), "center_lps": list(center),
                  "orientation_deg": list(orientation_of(args)), "scale": args.scale} for center in centers]
    return Lesions(labels, _variant_seeds(args.random_seed, len(centers), variant), described), {}


def _placed_at_seeds(prepared, centers: list[tuple[float, float, float]], gap_mm: float,
                     place: Callable[[int, sitk.Image], sitk.Image]) -> list[sitk.Image]:
    """``place(k, room)``: the label map of the lesion at ``centers[k]`` in ``room`` (uint8 on the
    case's grid), for each seed in turn, the room narrowed ``gap_mm`` away from every lesion before
    it; a seed in or beside the case's own lesions or an earlier seed's is refused in one line."""
    from ..core.errors import LesionPlacementError
    from ..core.image_io import lps_to_ras
    from ..lesions.existing import check_seed_clear, lesion_free_brain

    room, labels = prepared.mask, []
    for k, center in enumerate(centers):
        check_seed_clear(center, prepared.mask, gap_mm)
        index = room.TransformPhysicalPointToIndex(center)
        inside = all(0 <= i < n for i, n in zip(index, room.GetSize()))  # else generate_lesion says so
        if labels and inside and not room[index]:
            ras = ", ".join(f"{v + 0.0:.1f}" for v in lps_to_ras(center))
            raise LesionPlacementError(f"seed {k + 1} at RAS ({ras}) mm lies within {gap_mm:g} mm of the lesion of "
                                       "an earlier seed; move it away or give smaller lesions")
        labels.append(place(k, room))
        room = lesion_free_brain(room, labels[-1], gap_mm)
    return labels


def _random_lesions(synthesizer, diameter_range: tuple[float, float], args: argparse.Namespace, prepared, csf,
                    variant: int, case_id: str) -> tuple[Lesions, dict]:
    """``--count`` or ``--lesion-load``: random plausible lesions (:func:`draw_lesions`), drawn from a
    generator seeded by ``--random-seed`` + ``variant``."""
    rng = np.random.default_rng(args.random_seed + variant)
    asked = {"lesion_load_ml": args.lesion_load} if args.lesion_load is not None else {"lesion_count": args.count}
    lesions, _ = draw_lesions(synthesizer, prepared, csf, rng, diameter_range, args, case_id, count=args.count or 1,
                              load_ml=args.lesion_load)
    return lesions, {**asked, "diameter_range_mm": list(diameter_range)}


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
    """Build the default brain (MNI152 phantom), place a 30 mm glioma in the left white matter (another
    pathology: its default composition, the diameter brought into its range), synthesize it with the
    shipped model and write the case and before/after PNG montages."""
    from ..core.durable import atomic_write_bytes
    from ..core.image_io import ras_to_lps
    from ..io.brats import write_brats_case
    from ..io.montage import save_montage
    from ..lesions.spec import Composition, LesionSpec
    from ..phantom.generator import default_brain_phantom

    started = time.perf_counter()
    out = Path(args.out)
    synthesizer = synthesizer_from_args(args)
    print("building the default brain (MNI152 phantom, 1 mm, healthy)...")
    phantom = default_brain_phantom(resolution_mm=1.0)
    brain = phantom.case
    prepared = synthesizer.prepare(brain, white_matter=phantom.tissues.wm)  # known: no need to estimate it
    pathology = synthesizer.pathology
    diameter = pathology.fit_diameter_mm(DEMO_DIAMETER_MM)
    spec = LesionSpec(center_lps=ras_to_lps(DEMO_SEED_RAS), diameters_mm=(diameter,) * 3,
                      composition=Composition.for_pathology(pathology.name), pathology=pathology.name,
                      random_seed=args.random_seed)
    result = synthesizer.synthesize(prepared, spec)
    result.case.case_id = "DefaultBrain-synth"
    write_brats_case(result.case, out / "synthetic", "2023")
    atomic_write_bytes(out / "synthetic" / "provenance.json", (json.dumps(result.provenance, indent=2) + "\n").encode())
    write_brats_case(brain, out / "original", "2023")
    center = tuple(spec.center_lps)
    save_montage(brain, out / "before.png", center_lps=center)
    save_montage(result.case, out / "after.png", center_lps=center)
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings_s.items())
    print(f"{pathology.display_name} lesion at RAS {DEMO_SEED_RAS}, {diameter:g} mm: {timing}")
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
                             help="paint lesions at seeds, or random ones, into a case (or every case of a dataset)")
    synthesize.add_argument("--case", required=True, help="BraTS case folder, or a dataset folder of them")
    lesions = synthesize.add_mutually_exclusive_group(required=True)
    add_seed_option(lesions, several=True)
    lesions.add_argument("--count", type=positive_int, metavar="N",
                         help="N random lesions at plausible places for the pathology, instead of seeds")
    add_lesion_load_option(lesions, "seeds")
    add_lesion_options(synthesize, random_seed_help="random seed, 0 or more (default 0): of the lesion at the "
                                                    "first --seed-ras (the k-th takes S+k-1), or of the --count and "
                                                    "--lesion-load draws")
    add_diameter_range_option(synthesize, "--count and --lesion-load lesions")
    synthesize.add_argument("--label-from", metavar="FILE",
                            help="take the lesion's shape from this segmentation (any grid; BraTS 2021 or 2023 "
                                 "values) instead of generating one: its core centroid goes to each seed, turned by "
                                 "--orientation and scaled by --scale (--diameter is then not used)")
    synthesize.add_argument("--scale", type=float, default=1.0, help="scale of a --label-from lesion (default 1)")
    synthesize.add_argument("--variants", type=positive_int, default=1,
                            help="number of variants, each with its own random seeds (default 1)")
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
