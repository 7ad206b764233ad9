"""Phantom datasets: many phantom cases written as a BraTS-layout dataset, in parallel processes if
asked, each case reproducible from the dataset's seed and its index alone."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from .. import __version__
from ..core.errors import SynthPathologyError
from ..io.dataset_writer import DatasetWriter, write_case_folder
from .default_brain import Brain
from .generator import PhantomOptions, make_phantom_case, source_brain


def case_seed(dataset_seed: int, index: int) -> int:
    """Seed of case ``index`` of a dataset drawn with ``dataset_seed``: independent of the other
    cases and of other datasets' cases (no overlap between seeds 0 and 1, say)."""
    return int(np.random.SeedSequence([dataset_seed, index]).generate_state(1)[0])


def write_phantom_dataset(
    out: Path,
    n_cases: int,
    seed: int,
    options: PhantomOptions = PhantomOptions(),
    brain: Brain | None = None,
    progress: bool = True,
    naming: str = "2023",
    workers: int = 1,
    writer: DatasetWriter | None = None,
) -> list[Path]:
    """Write ``n_cases`` phantom cases as BraTS case folders ``out/Phantom-00000``, ...

    Each folder holds the four contrasts and the segmentation (``naming``: "2023" or "2021" file
    names and label values) and ``phantom.json``: the case seed, options, lesion specs and library
    version. ``workers`` > 1 draws cases in that many processes; the cases do not depend on it.
    ``out`` is a dataset (``writer``, a new :class:`DatasetWriter` by default): a folder appears
    whole, a re-run continues where one stopped, a case that fails is skipped and reported.
    Returns the case folders written or found.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    writer = writer or DatasetWriter(out, "phantom")
    todo = [i for i in range(n_cases) if not writer.done(_phantom_id(i))]
    write = partial(_write_phantom_case, Path(out), seed, options, source_brain(brain, options), naming)
    with ExitStack() as stack:
        if workers == 1:
            outcomes = map(write, todo)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(workers, initializer=_one_thread_per_process))
            outcomes = pool.map(write, todo)
        for case_id, problem in tqdm(outcomes, total=len(todo), desc="phantom cases", unit="case",
                                     disable=not progress):
            if problem:
                writer.skip(case_id, problem)
            else:
                writer.record(case_id)
    return [folder for folder in (Path(out) / _phantom_id(i) for i in range(n_cases)) if folder.is_dir()]


def _phantom_id(index: int) -> str:
    return f"Phantom-{index:05d}"


def _write_phantom_case(out: Path, seed: int, options: PhantomOptions, brain: Brain, naming: str,
                        index: int) -> tuple[str, str | None]:
    """Draw and write case ``index`` of the dataset; returns its id and None, or the one-line
    reason it could not be written."""
    case_id = _phantom_id(index)
    try:
        phantom = make_phantom_case(case_seed(seed, index), options, brain, case_id)
        provenance = {"case_seed": phantom.seed, "dataset_seed": seed, "index": index, "options": asdict(options),
                      "brain": brain.name, "lesions": [spec.to_dict() for spec in phantom.lesions],
                      "library_version": __version__}
        write_case_folder(out, phantom.case, naming, {"phantom.json": provenance})
    except SynthPathologyError as exc:
        return case_id, str(exc)
    return case_id, None


def _one_thread_per_process() -> None:
    # The processes already use every core; ITK's own threads would only contend with them.
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
