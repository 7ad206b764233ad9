"""Command-line verbs that run the generator: ``synthesize``, ``remove``, ``augment``, ``demo`` and
``montage`` (see :mod:`SynthPathologyLib.cli.main` for the shared conventions)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from ..lesions.existing import DEFAULT_GAP_MM
from .options import (
    add_generator_options,
    add_lesion_options,
    add_resample_option,
    lesion_spec_from_args,
    positive_int,
    random_seed,
)

# Deep left-hemisphere white matter of the MNI152 brain (RAS mm): the demo's default seed.
DEMO_SEED_RAS = (-26.0, -12.0, 28.0)
DEMO_DIAMETER_MM = 30.0
# A lesion keeping less than this fraction of its asked core volume (clipped) is said so.
CLIPPED_NOTE = 0.95


def _synthesizer(args: argparse.Namespace):
    from ..synthesis.synthesizer import Synthesizer

    return Synthesizer(args.model, device=args.device)


def _cases(path: str, command: str) -> list[Path]:
    """The case folders ``--case`` names (a case or a dataset), saying so when it is a dataset."""
    from ..io.brats import case_or_dataset

    folders = case_or_dataset(path)
    if len(folders) > 1 or Path(path) != folders[0]:
        print(f"{command}: {path} is a dataset of {len(folders)} case(s); each gets its own output case")
    return folders


def _run_cases(folders: list[Path], writer, work) -> int:
    """``work(folder)`` for each case folder; with several, a case that fails is reported and
    skipped instead of ending the run. Returns the writer's exit status."""
    from ..core.errors import SynthPathologyError

    for folder in tqdm(folders, desc=writer.report.command, unit="case", disable=len(folders) == 1):
        try:
            work(folder)
        except SynthPathologyError as exc:
            if len(folders) == 1:
                raise
            writer.skip(folder.name, str(exc))
    return writer.finish()


def _read(folder: Path, synthesizer, args: argparse.Namespace, **options):
    """A case of ``folder`` with the contrasts the model needs: all of its contrasts, or for a
    generator with availability channels whichever it holds (the synthesizer refuses none)."""
    from ..io.brats import read_brats_case

    required = () if synthesizer.card.network_config().any_contrasts else tuple(synthesizer.card.contrasts)
    return read_brats_case(folder, contrasts=required, resample=args.resample, **options)


def _prepare_beside_existing(synthesizer, case, gap_mm: float):
    """The case prepared for an insertion, and its CSF (bool (z, y, x), probability above
    ``CSF_LEVEL``): the lesion, its edema and its synthesis region stay ``gap_mm`` away from the
    case's own lesions, whose voxels are thus left as they are."""
    import SimpleITK as sitk

    from ..lesions.sampling import CSF_LEVEL
    from ..phantom.atlas import estimate_tissue_maps_with_priors

    tissues = estimate_tissue_maps_with_priors(case.images["t1"], case.mask()) if "t1" in case.images else None
    prepared = _away_from_label(synthesizer.prepare(case, None if tissues is None else tissues.wm), case.label, gap_mm)
    csf = None if tissues is None else sitk.GetArrayViewFromImage(tissues.csf) > CSF_LEVEL
    return prepared, csf


def _away_from_label(prepared, label, gap_mm: float):
    """``prepared`` with its mask (and brain) narrowed to the room ``gap_mm`` away from ``label``'s lesions."""
    import SimpleITK as sitk

    from ..lesions.existing import lesion_free_brain

    room = lesion_free_brain(prepared.mask, label, gap_mm)
    return replace(prepared, mask=room, brain=sitk.GetArrayViewFromImage(room) > 0)


def _insert(synthesizer, prepared, lesion, args: argparse.Namespace, random_seed: int | None = None,
            described: dict | None = None):
    """Synthesize ``lesion`` (a spec, or a label map on the case's grid described by ``described``)
    into ``prepared``; with ``--mass-effect`` the case (contrasts, label, white matter) is first
    warped away from the lesion's core, and provenance records the field."""
    from ..lesions.mass_effect import apply_mass_effect, mass_effect_for, warp_map
    from ..lesions.placement import generate_lesion
    from ..lesions.spec import LesionSpec

    if not args.mass_effect:
        result = synthesizer.synthesize(prepared, lesion, random_seed=random_seed)
    else:
        if isinstance(lesion, LesionSpec):
            described, random_seed = lesion.to_dict(), lesion.random_seed
            lesion = generate_lesion(lesion, prepared.case.reference, prepared.mask, prepared.white_matter)
        effect = mass_effect_for(lesion, args.mass_effect, pathology=synthesizer.card.pathology)
        warped = apply_mass_effect(prepared.case, effect)
        pushed = _away_from_label(synthesizer.prepare(warped, warp_map(prepared.white_matter, effect)),
                                  warped.label, args.gap_mm)
        result = synthesizer.synthesize(pushed, lesion, random_seed=random_seed)
        result.provenance["mass_effect"] = effect.to_dict()
    if described is not None:
        result.provenance["lesion"] = described
    return result


def _write(writer, result, args: argparse.Namespace, folder: Path, **extra) -> Path:
    """Write ``result`` with ``--naming`` (default: the source case's) and its provenance plus ``extra``."""
    from ..io.brats import naming_of

    naming = args.naming or naming_of(folder)
    return writer.write(result.case, naming, {"provenance.json": {**result.provenance, **extra}})


def cmd_synthesize(args: argparse.Namespace) -> int:
    from ..io.dataset_writer import DatasetWriter
    from ..lesions.existing import check_seed_clear
    from ..lesions.placement import kept_core

    synthesizer = _synthesizer(args)
    if args.label_from:
        return _synthesize_library_lesion(args, synthesizer)
    spec = lesion_spec_from_args(args, synthesizer.card.pathology)
    writer = DatasetWriter(args.out, "synthesize")

    def work(folder: Path) -> None:
        ids = [f"{folder.name}-synth{variant:02d}" for variant in range(args.variants)]
        if all(writer.done(i) for i in ids):
            return
        case = _read(folder, synthesizer, args)
        prepared, _ = _prepare_beside_existing(synthesizer, case, args.gap_mm)
        check_seed_clear(spec.center_lps, prepared.mask, args.gap_mm)
        for variant, case_id in enumerate(ids):
            if writer.done(case_id):
                continue
            result = _insert(synthesizer, prepared, replace(spec, random_seed=spec.random_seed + variant), args)
            result.case.case_id = case_id
            kept, asked = kept_core(result.label, spec)
            if kept < CLIPPED_NOTE * asked:
                print(f"{case_id}: the core was clipped at the brain's edge or beside the existing lesion: "
                      f"kept {kept / 1000:.1f} ml of {asked / 1000:.1f} ml")
            folder_out = _write(writer, result, args, folder, gap_mm=args.gap_mm,
                                core_kept_ml=round(kept / 1000, 2), core_asked_ml=round(asked / 1000, 2))
            print(f"wrote {folder_out}")

    return _run_cases(_cases(args.case, "synthesize"), writer, work)


def _synthesize_library_lesion(args: argparse.Namespace, synthesizer) -> int:
    """``synthesize --label-from FILE``: the file's lesion placed at the seed (core centroid), with
    ``--orientation`` and ``--scale``, into each case."""
    from ..core.image_io import ras_to_lps
    from ..io.dataset_writer import DatasetWriter
    from ..lesions.existing import check_seed_clear
    from ..lesions.library import read_library_label
    from ..lesions.placement import place_label_map

    pathology = synthesizer.card.pathology
    source = read_library_label(args.label_from, pathology)
    center = ras_to_lps(args.seed_ras)
    writer = DatasetWriter(args.out, "synthesize")

    def work(folder: Path) -> None:
        ids = [f"{folder.name}-synth{variant:02d}" for variant in range(args.variants)]
        if all(writer.done(i) for i in ids):
            return
        prepared, _ = _prepare_beside_existing(synthesizer, _read(folder, synthesizer, args), args.gap_mm)
        check_seed_clear(center, prepared.mask, args.gap_mm)
        label = place_label_map(source, prepared.case.reference, center, prepared.mask, scale=args.scale,
                                orientation_deg=args.orientation, pathology=pathology)
        lesion = {"label_from": str(args.label_from), "center_lps": list(center),
                  "orientation_deg": list(args.orientation), "scale": args.scale}
        for variant, case_id in enumerate(ids):
            if writer.done(case_id):
                continue
            result = _insert(synthesizer, prepared, label, args, args.random_seed + variant, lesion)
            result.case.case_id = case_id
            print(f"wrote {_write(writer, result, args, folder, gap_mm=args.gap_mm)}")

    return _run_cases(_cases(args.case, "synthesize"), writer, work)


def cmd_remove(args: argparse.Namespace) -> int:
    from ..io.dataset_writer import DatasetWriter

    synthesizer = _synthesizer(args)
    writer = DatasetWriter(args.out, "remove")

    def work(folder: Path) -> None:
        case_id = f"{folder.name}-healthy"
        if writer.done(case_id):
            return
        result = synthesizer.remove_lesion(_read(folder, synthesizer, args, require_label=True),
                                           random_seed=args.random_seed)
        result.case.case_id = case_id
        print(f"wrote {_write(writer, result, args, folder)}")

    return _run_cases(_cases(args.case, "remove"), writer, work)


def cmd_augment(args: argparse.Namespace) -> int:
    import zlib

    import numpy as np

    from ..core.errors import SynthPathologyError
    from ..io.brats import require_brats_cases
    from ..io.dataset_writer import DatasetWriter
    from ..lesions.library import library_files

    synthesizer = _synthesizer(args)
    folders = require_brats_cases(args.data)
    writer = DatasetWriter(args.out, "augment")
    asked = tuple(args.diameter_range)
    library = library_files(args.label_library) if args.label_library else None

    def work(folder: Path) -> None:
        ids = [f"{folder.name}-aug{k:02d}" for k in range(args.per_case)]
        todo = [(k, i) for k, i in enumerate(ids) if not writer.done(i)]
        if not todo:
            return
        prepared, csf = _prepare_beside_existing(synthesizer, _read(folder, synthesizer, args), args.gap_mm)
        for k, case_id in todo:
            # One generator per output case: a resumed run draws the same lesions as an unbroken one.
            rng = np.random.default_rng([args.seed, zlib.crc32(folder.name.encode()), k])
            try:
                if library:
                    result, used = _synthesize_from_library(synthesizer, prepared, csf, rng, library, args), asked
                else:
                    result, used = _synthesize_somewhere(synthesizer, prepared, csf, rng, asked, args)
            except SynthPathologyError as exc:
                writer.skip(case_id, str(exc))
                continue
            result.case.case_id = case_id
            _write(writer, result, args, folder, gap_mm=args.gap_mm, diameter_range_mm=list(used))
            if used != asked:
                writer.shrink(case_id, asked, float(np.mean(result.provenance["lesion"]["diameters_mm"])))

    return _run_cases(folders, writer, work)


def _synthesize_somewhere(synthesizer, prepared, csf, rng, diameter_range, args):
    """Synthesize a random plausible lesion in the room ``prepared`` leaves (away from the case's own
    lesion, out of ``csf``): :func:`draw_fitting_lesion`. Returns the result and the diameter range
    its lesion came from."""
    from ..lesions.sampling import draw_fitting_lesion

    spec, label, sizes = draw_fitting_lesion(prepared.mask, prepared.white_matter, csf, rng, diameter_range,
                                             synthesizer.card.pathology)
    result = _insert(synthesizer, prepared, label, args, spec.random_seed, spec.to_dict())
    return result, sizes


def _synthesize_from_library(synthesizer, prepared, csf, rng, files: list[Path], args):
    """Synthesize a lesion of a random library file (:func:`place_library_lesion`); provenance
    records the file and the placement."""
    from dataclasses import asdict

    from ..lesions.library import place_library_lesion, read_library_label

    path = files[rng.integers(len(files))]
    source = path.relative_to(Path(args.label_library).resolve()).as_posix()
    label = read_library_label(path, synthesizer.card.pathology)
    placed, placement = place_library_lesion(label, prepared.mask, prepared.white_matter, csf, rng, source,
                                             synthesizer.card.pathology)
    return _insert(synthesizer, prepared, placed, args, int(rng.integers(2**31)), {"library": asdict(placement)})


def cmd_demo(args: argparse.Namespace) -> int:
    from ..core.durable import atomic_write_bytes
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
    from ..io.brats import is_brats_case, read_brats_case
    from ..io.montage import save_montage

    if is_brats_case(Path(args.case)):
        print(f"wrote {save_montage(read_brats_case(args.case, contrasts=()), args.out)}")
        return 0
    folders = _cases(args.case, "montage")
    out = Path(args.out)
    for folder in tqdm(folders, desc="montage", unit="case"):
        save_montage(read_brats_case(folder, contrasts=()), out / f"{folder.name}.png")
    print(f"wrote {len(folders)} montage(s) to {out}")
    return 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    add_generator_options(parser)
    parser.add_argument("--naming", choices=("2021", "2023"),
                        help="BraTS file naming and ET value of the output (default: the input case's)")
    add_resample_option(parser)


def _add_mass_effect_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mass-effect", type=float, default=0.0, metavar="MM",
                        help="push the surrounding tissue (every contrast and the label) MM mm away from the new "
                             "tumour at its edge, fading to nothing within 5 x MM (at least 10 mm); beyond that "
                             "every voxel is unchanged (default 0: none)")


def _add_gap_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gap-mm", type=float, default=DEFAULT_GAP_MM,
                        help=f"keep the new lesion (edema included) this far from the case's existing lesions; their "
                             f"labels are kept in the output segmentation (default {DEFAULT_GAP_MM:g})")


_DATASET_OUT = ("output dataset folder: one case folder per output case (appearing whole), and report.json; "
                "a re-run into it continues where it stopped")


def add_synthesis_commands(commands) -> None:
    """Add the generator's verbs to the top-level sub-command parser."""
    synthesize = commands.add_parser(
        "synthesize", help="paint a lesion at a seed into a case (or every case of a dataset)",
        description="Synthesize a lesion at a seed (RAS mm) into a BraTS case folder, or into every case of a "
                    "dataset in a common space (BraTS cases are); writes a dataset: one case folder with "
                    "provenance.json per case and variant. The case's own lesions keep their labels.")
    synthesize.add_argument("--case", required=True, help="BraTS case folder, or a dataset folder of them")
    add_lesion_options(synthesize)
    synthesize.add_argument("--label-from", metavar="FILE",
                            help="take the lesion's shape from this segmentation (any grid; BraTS 2021 or 2023 "
                                 "values) instead of generating one: its core centroid goes to the seed, turned by "
                                 "--orientation and scaled by --scale (--diameter is then not used)")
    synthesize.add_argument("--scale", type=float, default=1.0, help="scale of a --label-from lesion (default 1)")
    synthesize.add_argument("--variants", type=positive_int, default=1,
                            help="number of variants (random seeds S, S+1, ...; default 1)")
    synthesize.add_argument("--out", required=True, help=_DATASET_OUT)
    _add_gap_option(synthesize)
    _add_mass_effect_option(synthesize)
    _add_model_options(synthesize)
    synthesize.set_defaults(run=cmd_synthesize)

    remove = commands.add_parser(
        "remove", help="pseudo-healthy version of a case with a lesion (or of every case of a dataset)",
        description="Inpaint healthy tissue over a case's labelled lesion; writes a dataset.")
    remove.add_argument("--case", required=True, help="BraTS case folder with a segmentation, or a dataset of them")
    remove.add_argument("--out", required=True, help=_DATASET_OUT)
    remove.add_argument("--random-seed", type=random_seed, default=0, help="random seed (default 0)")
    _add_model_options(remove)
    remove.set_defaults(run=cmd_remove)

    augment = commands.add_parser(
        "augment", help="insert lesions at random plausible places into every case of a dataset",
        description="The dataset factory: K synthetic lesions per case, placed in deep white matter away from "
                    "the brain's edge and from the case's own lesions (whose labels are kept), written as a "
                    "BraTS-layout dataset with labels and provenance. A case without room for the asked size is "
                    "retried smaller, then skipped; report.json lists both.")
    augment.add_argument("--data", required=True, help="BraTS-layout dataset folder")
    augment.add_argument("--out", required=True, help=_DATASET_OUT)
    augment.add_argument("--per-case", type=positive_int, default=1, help="lesions per case (default 1)")
    augment.add_argument("--diameter-range", type=float, nargs=2, default=(15.0, 40.0), metavar=("MIN", "MAX"),
                         help="tumor-core diameter range in mm (default 15 40)")
    augment.add_argument("--label-library", metavar="DIR",
                         help="take lesion shapes from the segmentations in this folder (any grid; BraTS 2021 or "
                              "2023 values), each placed at a plausible site with a random rotation and scale "
                              "0.8-1.2, instead of generating them (--diameter-range is then not used)")
    augment.add_argument("--seed", type=random_seed, default=0, help="random seed (default 0)")
    _add_gap_option(augment)
    _add_mass_effect_option(augment)
    _add_model_options(augment)
    augment.set_defaults(run=cmd_augment)

    demo = commands.add_parser(
        "demo", help="the default brain with a synthetic glioma: NIfTI files and before/after montages",
        description="Build the default brain (MNI152 phantom), place a 30 mm glioma in the left white matter, "
                    "synthesize it with the shipped model and write the case and before/after PNG montages.")
    demo.add_argument("--out", required=True, help="output folder")
    demo.add_argument("--random-seed", type=random_seed, default=0, help="random seed (default 0)")
    add_generator_options(demo)
    demo.set_defaults(run=cmd_demo)

    montage = commands.add_parser(
        "montage", help="PNG montage of a case (or of every case of a dataset): contrasts and label in three planes",
        description="Write a PNG: rows axial, coronal, sagittal through the lesion (or brain centre); columns "
                    "the contrasts and the label over the last one. Given a dataset, one <case>.png per case "
                    "in the --out folder.")
    montage.add_argument("--case", required=True, help="BraTS case folder, or a dataset folder of them")
    montage.add_argument("--out", required=True, help="output .png (a folder when --case is a dataset)")
    montage.set_defaults(run=cmd_montage)
