"""Command-line verbs that run the generator: ``synthesize``, ``remove``, ``augment``, ``demo`` and
``montage`` (see :mod:`SynthPathologyLib.cli.main` for the shared conventions)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from tqdm import tqdm

from ..core.errors import SynthPathologyError
from ..io.dataset_writer import Shard
from ..lesions.existing import DEFAULT_GAP_MM
from .options import (
    add_generator_options,
    add_lesion_options,
    add_pathology_option,
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
    """The synthesizer of ``--model`` (default: ``--pathology``'s model) on ``--device``, refused if its
    model is not for ``--pathology``."""
    from ..synthesis.synthesizer import Synthesizer

    return Synthesizer(args.model, device=args.device, pathology=args.pathology)


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


def _insert(synthesizer, prepared, lesion, args: argparse.Namespace, random_seed: int | None = None,
            described: dict | None = None):
    """:func:`~SynthPathologyLib.synthesis.insertion.insert_lesion` with ``--mass-effect`` and ``--gap-mm``."""
    from ..synthesis.insertion import insert_lesion

    return insert_lesion(synthesizer, prepared, lesion, random_seed=random_seed, mass_effect_mm=args.mass_effect,
                         gap_mm=args.gap_mm, described=described)


def _write(writer, result, args: argparse.Namespace, folder: Path, **extra) -> Path:
    """Write ``result`` with :func:`_output`'s naming and documents."""
    return writer.write(result.case, *_output(result, args, folder, **extra))


def _output(result, args: argparse.Namespace, folder: Path, **extra) -> tuple[str, dict[str, dict]]:
    """The naming ``result`` is written with (``--naming``, default: the source case's) and its
    documents: the provenance plus ``extra``."""
    from ..io.brats import naming_of

    return args.naming or naming_of(folder), {"provenance.json": {**result.provenance, **extra}}


def cmd_synthesize(args: argparse.Namespace) -> int:
    from ..io.dataset_writer import DatasetWriter
    from ..lesions.existing import check_seed_clear
    from ..lesions.placement import kept_core
    from ..synthesis.insertion import prepare_beside_existing

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
        prepared, _ = prepare_beside_existing(synthesizer, case, args.gap_mm)
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
    from ..synthesis.insertion import prepare_beside_existing

    pathology = synthesizer.card.pathology
    source = read_library_label(args.label_from, pathology)
    center = ras_to_lps(args.seed_ras)
    writer = DatasetWriter(args.out, "synthesize")

    def work(folder: Path) -> None:
        ids = [f"{folder.name}-synth{variant:02d}" for variant in range(args.variants)]
        if all(writer.done(i) for i in ids):
            return
        prepared, _ = prepare_beside_existing(synthesizer, _read(folder, synthesizer, args), args.gap_mm)
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
    """The dataset factory: ``--per-case`` lesions into each case of this run's ``--shard``, in
    ``--workers`` processes. Each output case depends on ``--seed`` and its id alone, so shards and
    workers write the files one serial run would."""
    from ..io.brats import require_brats_cases
    from ..io.dataset_writer import DatasetWriter

    folders = require_brats_cases(args.data)
    ids = {folder: [_augmented_id(folder, k) for k in range(args.per_case)] for folder in args.shard.select(folders)}
    if not ids:
        print(f"augment: shard {args.shard} holds no case: the dataset has {len(folders)} case(s)")
        return 0
    writer = DatasetWriter(args.out, "augment", args.shard.report_file,
                           cases={case_id for variants in ids.values() for case_id in variants})
    tasks = [(folder, todo) for folder, variants in ids.items()
             if (todo := [k for k, case_id in enumerate(variants) if not writer.done(case_id)])]
    asked = tuple(args.diameter_range)
    with _augmenting(args, len(folders) > 1, len(tasks)) as augment:
        for outcomes in tqdm(augment(tasks), total=len(tasks), desc="augment", unit="case",
                             disable=len(folders) == 1):
            for outcome in outcomes:
                _record(writer, outcome, asked)
    return writer.finish()


def _augmented_id(folder: Path, k: int) -> str:
    return f"{folder.name}-aug{k:02d}"


@dataclass(frozen=True)
class _Outcome:
    """What became of one output case (or of a whole input case, named by its folder): written, with
    ``shrunk_to_mm`` the mean diameter of a lesion made smaller than asked; or not, and why (``problem``)."""

    case_id: str
    problem: str | None = None
    shrunk_to_mm: float | None = None


def _record(writer, outcome: _Outcome, asked: tuple[float, float]) -> None:
    """Enter ``outcome`` in ``writer``'s report (its case folder, if any, is written already)."""
    if outcome.problem is not None:
        writer.skip(outcome.case_id, outcome.problem)
        return
    writer.record(outcome.case_id)
    if outcome.shrunk_to_mm is not None:
        writer.shrink(outcome.case_id, asked, outcome.shrunk_to_mm)


_Task = tuple[Path, list[int]]  # an input case folder and the variants k of it to write


class _Augmenter:
    """Writes the augmented cases of one input case (:meth:`__call__`): the model (loaded once) and
    the run's options. ``several``: the dataset has several cases, so a case that fails is reported
    instead of ending the run."""

    def __init__(self, args: argparse.Namespace, several: bool):
        from ..lesions.library import library_files

        self.args = args
        self.several = several
        self.synthesizer = _synthesizer(args)
        self.asked = tuple(args.diameter_range)
        self.library = library_files(args.label_library) if args.label_library else None

    def __call__(self, task: _Task) -> list[_Outcome]:
        from ..synthesis.insertion import prepare_beside_existing

        folder, variants = task
        outcomes = []
        try:
            prepared, csf = prepare_beside_existing(self.synthesizer, _read(folder, self.synthesizer, self.args),
                                                    self.args.gap_mm)
            for k in variants:
                outcomes.append(self._variant(folder, prepared, csf, k))
        except SynthPathologyError as exc:
            if not self.several:
                raise
            outcomes.append(_Outcome(folder.name, problem=str(exc)))
        return outcomes

    def _variant(self, folder: Path, prepared, csf, k: int) -> _Outcome:
        """Synthesize and write variant ``k`` of ``folder``'s case (``prepared``)."""
        import zlib

        import numpy as np

        from ..io.dataset_writer import write_case_folder

        case_id = _augmented_id(folder, k)
        # A generator of its own per output case, from the seed and the case's name (a stable hash, not
        # Python's salted one) alone: a resumed run, a shard and a worker draw the lesions one serial run does.
        rng = np.random.default_rng([self.args.seed, zlib.crc32(folder.name.encode()), k])
        try:
            if self.library:
                result, used = _synthesize_from_library(self.synthesizer, prepared, csf, rng, self.library,
                                                        self.args), self.asked
            else:
                result, used = _synthesize_somewhere(self.synthesizer, prepared, csf, rng, self.asked, self.args)
        except SynthPathologyError as exc:
            return _Outcome(case_id, problem=str(exc))
        result.case.case_id = case_id
        write_case_folder(Path(self.args.out), result.case,
                          *_output(result, self.args, folder, gap_mm=self.args.gap_mm, diameter_range_mm=list(used)))
        shrunk = None if used == self.asked else float(np.mean(result.provenance["lesion"]["diameters_mm"]))
        return _Outcome(case_id, shrunk_to_mm=shrunk)


@contextmanager
def _augmenting(args: argparse.Namespace, several: bool,
                tasks: int) -> Iterator[Callable[[list[_Task]], Iterable[list[_Outcome]]]]:
    """A map of :class:`_Augmenter` over tasks, outcomes in the tasks' order: in this process, or in
    ``--workers`` processes with a model each. Either way each case is computed on one thread
    (:mod:`SynthPathologyLib.core.processes`), so its bytes do not depend on the worker count."""
    from ..core.processes import one_thread, process_pool

    workers = min(args.workers, tasks)
    if workers <= 1:
        with one_thread():
            yield partial(map, _Augmenter(args, several))
        return
    with process_pool(workers, _start_augment_worker, (args, several)) as pool:
        yield partial(pool.map, _augment_in_worker)


# This worker process's augmenter, or the error that building it raised.
_WORKER: _Augmenter | SynthPathologyError | None = None


def _start_augment_worker(args: argparse.Namespace, several: bool) -> None:
    global _WORKER
    try:
        _WORKER = _Augmenter(args, several)
    except SynthPathologyError as exc:
        # Raised by the tasks, in the parent: a bad --model is the one-line error a serial run gives,
        # where an initializer's error would only break the pool.
        _WORKER = exc


def _augment_in_worker(task: _Task) -> list[_Outcome]:
    if isinstance(_WORKER, SynthPathologyError):
        raise _WORKER
    return _WORKER(task)


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
    add_pathology_option(parser)
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


def _shard(text: str) -> Shard:
    """``--shard I/N`` (:meth:`Shard.parse`), refused in one line."""
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    augment.add_argument("--workers", type=positive_int, default=1,
                         help="cases computed in parallel processes, each with its own copy of the model and one "
                              "thread (default 1); the output does not depend on it")
    augment.add_argument("--shard", type=_shard, default=Shard(), metavar="I/N",
                         help="write only part I of N (0-based: 0/N to N-1/N) of the input cases, e.g. one task of "
                              "a Slurm job array or a Kubernetes indexed Job; the N parts written into one --out "
                              "are the dataset one run writes, and each keeps its own report-shard-I-of-N.json")
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
    add_pathology_option(demo)
    demo.set_defaults(run=cmd_demo)

    montage = commands.add_parser(
        "montage", help="PNG montage of a case (or of every case of a dataset): contrasts and label in three planes",
        description="Write a PNG: rows axial, coronal, sagittal through the lesion (or brain centre); columns "
                    "the contrasts and the label over the last one. Given a dataset, one <case>.png per case "
                    "in the --out folder.")
    montage.add_argument("--case", required=True, help="BraTS case folder, or a dataset folder of them")
    montage.add_argument("--out", required=True, help="output .png (a folder when --case is a dataset)")
    montage.set_defaults(run=cmd_montage)
