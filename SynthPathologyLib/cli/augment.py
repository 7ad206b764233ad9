"""``synthpathology augment``, the dataset factory: synthetic lesions at random plausible places in
every case of a dataset, in shards and worker processes that write the files one serial run would
(see :mod:`SynthPathologyLib.cli.main` for the shared conventions)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from ..core.errors import SynthPathologyError
from ..io.dataset_writer import Shard
from ..pathologies import get_pathology
from .cases import Lesions, draw_lesions, insert, output_files, read_case
from .options import (
    add_command,
    add_dataset_out_option,
    add_diameter_range_option,
    add_insertion_options,
    add_lesion_load_option,
    add_model_options,
    add_random_seed_option,
    diameter_range_of,
    lesions_per_case_defaults,
    positive_int,
    synthesizer_from_args,
)


def cmd_augment(args: argparse.Namespace) -> int:
    """The dataset factory: K synthetic cases per input case, each with one or more lesions of the
    pathology at random plausible places (a glioma in lobar white matter, metastases at the grey-white
    junction, MS plaques periventricular, juxtacortical, deep or infratentorial) away from the brain's
    edge and from the case's own lesions (whose labels are kept), written as a BraTS-layout dataset
    with labels and provenance. A case without room for the asked size is retried smaller, then
    skipped; report.json lists both."""
    from ..io.brats import require_brats_cases
    from ..io.dataset_writer import DatasetWriter

    if args.label_library and (args.lesions is not None or args.lesion_load is not None):
        raise SynthPathologyError("--label-library places one library lesion per output case; --lesions and "
                                  "--lesion-load go with generated lesions")
    # --per-case output cases of each case of this run's --shard, in --workers processes. Each output case
    # depends on --seed and its id alone, so shards and workers write the files one serial run would.
    folders = require_brats_cases(args.data)
    ids = {folder: [_augmented_id(folder, k) for k in range(args.per_case)] for folder in args.shard.select(folders)}
    if not ids:
        print(f"augment: shard {args.shard} holds no case: the dataset has {len(folders)} case(s)")
        return 0
    writer = DatasetWriter(args.out, "augment", args.shard.report_file,
                           cases={case_id for variants in ids.values() for case_id in variants})
    tasks = [(folder, todo) for folder, variants in ids.items()
             if (todo := [k for k, case_id in enumerate(variants) if not writer.done(case_id)])]
    with _augmenting(args, len(folders) > 1, len(tasks)) as augment:
        for outcomes in tqdm(augment(tasks), total=len(tasks), desc="augment", unit="case",
                             disable=len(folders) == 1):
            for outcome in outcomes:
                _record(writer, outcome)
    return writer.finish()


def _augmented_id(folder: Path, k: int) -> str:
    return f"{folder.name}-aug{k:02d}"


@dataclass(frozen=True)
class _Outcome:
    """What became of one output case (or of a whole input case, named by its folder): written, with
    ``shrunk`` the diameter range asked and the mean diameter of its lesions made smaller than asked;
    or not, and why (``problem``)."""

    case_id: str
    problem: str | None = None
    shrunk: tuple[tuple[float, float], float] | None = None


def _record(writer, outcome: _Outcome) -> None:
    """Enter ``outcome`` in ``writer``'s report (its case folder, if any, is written already)."""
    if outcome.problem is not None:
        writer.skip(outcome.case_id, outcome.problem)
        return
    writer.record(outcome.case_id)
    if outcome.shrunk is not None:
        writer.shrink(outcome.case_id, *outcome.shrunk)


_Task = tuple[Path, list[int]]  # an input case folder and the variants k of it to write


class _Augmenter:
    """Writes the augmented cases of one input case (:meth:`__call__`): the model (loaded once) and
    the run's options. ``several``: the dataset has several cases, so a case that fails is reported
    instead of ending the run."""

    def __init__(self, args: argparse.Namespace, several: bool):
        from ..lesions.library import library_files

        self.args = args
        self.several = several
        self.synthesizer = synthesizer_from_args(args)
        self.pathology = get_pathology(self.synthesizer.card.pathology)
        self.asked = diameter_range_of(args, self.pathology.name)
        self.library = library_files(args.label_library) if args.label_library else None

    def __call__(self, task: _Task) -> list[_Outcome]:
        from ..synthesis.insertion import prepare_beside_existing

        folder, variants = task
        outcomes = []
        try:
            prepared, csf = prepare_beside_existing(self.synthesizer, read_case(folder, self.synthesizer, self.args),
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
                lesions = _library_lesion(self.synthesizer, prepared, csf, rng, self.library, self.args)
                used = [self.asked]
            else:
                lesions, used = draw_lesions(self.synthesizer, prepared, csf, rng, self.asked, self.args, case_id,
                                             **self._how_many(rng))
            result = insert(self.synthesizer, prepared, lesions, self.args)
        except SynthPathologyError as exc:
            return _Outcome(case_id, problem=str(exc))
        result.case.case_id = case_id
        # The range the lesions came from: the narrowest, when some were drawn smaller than asked.
        narrowest = min(used, key=lambda sizes: sizes[1])
        write_case_folder(Path(self.args.out), result.case, *output_files(result, self.args, folder,
                                                                         gap_mm=self.args.gap_mm,
                                                                         diameter_range_mm=list(narrowest)))
        shrunk = [np.mean(lesion["diameters_mm"]) for lesion, sizes in zip(lesions.described, used)
                  if sizes != self.asked]
        return _Outcome(case_id, shrunk=(self.asked, float(np.mean(shrunk))) if shrunk else None)

    def _how_many(self, rng) -> dict[str, int | float]:
        """:func:`draw_lesions`' ``count`` or ``load_ml`` for one output case: ``--lesions``,
        ``--lesion-load``, else a count drawn from ``rng`` in the pathology's ``lesions_per_case``."""
        if self.args.lesion_load is not None:
            return {"load_ml": self.args.lesion_load}
        if self.args.lesions is not None:
            return {"count": self.args.lesions}
        low, high = self.pathology.lesions_per_case
        # Drawn only when it varies: a glioma case draws its lesion as it did before counts existed.
        return {"count": low if low == high else int(rng.integers(low, high + 1))}


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


def _library_lesion(synthesizer, prepared, csf, rng, files: list[Path], args) -> Lesions:
    """A lesion of a random library file placed at a plausible site (:func:`place_library_lesion`);
    provenance records the file and the placement."""
    from dataclasses import asdict

    from ..lesions.library import place_library_lesion, read_library_label

    path = files[rng.integers(len(files))]
    source = path.relative_to(Path(args.label_library).resolve()).as_posix()
    label = read_library_label(path, synthesizer.card.pathology)
    placed, placement = place_library_lesion(label, prepared.mask, prepared.white_matter, csf, rng, source,
                                             synthesizer.card.pathology)
    return Lesions([placed], [int(rng.integers(2**31))], [{"library": asdict(placement)}])


def _shard(text: str) -> Shard:
    """``--shard I/N`` (:meth:`Shard.parse`), refused in one line."""
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_augment_command(commands: argparse._SubParsersAction) -> None:
    """Add ``augment`` to the top-level sub-command parser."""
    augment = add_command(commands, "augment", cmd_augment,
                          help="insert lesions at random plausible places into every case of a dataset")
    augment.add_argument("--data", required=True, help="BraTS-layout dataset folder")
    add_dataset_out_option(augment)
    augment.add_argument("--per-case", type=positive_int, default=1,
                         help="output cases per input case, each with its own lesions (default 1)")
    count = augment.add_mutually_exclusive_group()
    count.add_argument("--lesions", type=positive_int, metavar="N",
                       help=f"lesions per output case (default: a number drawn per case in the pathology's range; "
                            f"{lesions_per_case_defaults()}; one with --label-library)")
    add_lesion_load_option(count, "--lesions")
    add_diameter_range_option(augment, "generated lesions")
    augment.add_argument("--label-library", metavar="DIR",
                         help="take lesion shapes from the segmentations in this folder (any grid; BraTS 2021 or "
                              "2023 values), each placed at a plausible site with a random rotation and scale "
                              "0.8-1.2, instead of generating them (--diameter-range is then not used)")
    add_random_seed_option(augment, "--seed")
    augment.add_argument("--workers", type=positive_int, default=1,
                         help="cases computed in parallel processes, each with its own copy of the model and one "
                              "thread (default 1); the output does not depend on it")
    augment.add_argument("--shard", type=_shard, default=Shard(), metavar="I/N",
                         help="write only part I of N (0-based: 0/N to N-1/N) of the input cases, e.g. one task of "
                              "a Slurm job array or a Kubernetes indexed Job; the N parts written into one --out "
                              "are the dataset one run writes, and each keeps its own report-shard-I-of-N.json")
    add_insertion_options(augment)
    add_model_options(augment)
