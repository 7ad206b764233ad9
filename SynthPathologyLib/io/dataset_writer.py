"""Writing a dataset of case folders that survives failures: one case never aborts the run, a case
folder appears whole or not at all, and a re-run into the same folder continues where it stopped.

A case folder is written under a hidden temporary name in the dataset folder (``.partial-<id>-<hex>``),
every file verified (:func:`~SynthPathologyLib.core.image_io.write_image`), then renamed whole to
``<id>``; a run killed half-way leaves only a hidden folder, which dataset readers skip and the
next run removes. A case whose folder exists is done: a re-run skips it (``resumed``).

``report.json`` in the dataset folder lists what each run wrote, skipped (with the reason) and
shrank (a lesion smaller than asked, to fit the brain); it is rewritten atomically after every
case and kept across re-runs.

Several runs may write into one dataset folder at the same time, each its own cases (a
:class:`Shard` of the input cases each): each keeps its own report (:attr:`Shard.report_file`) and
removes only its own cases' partial folders.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from ..core.case import Case
from ..core.durable import atomic_write_bytes, fsync_directory, read_json, remove_partial_files
from ..core.errors import CaseError
from .brats import write_brats_case

REPORT_FILE = "report.json"
PARTIAL_PREFIX = ".partial-"
# Exit status of a dataset command that wrote no case (user errors exit with 2).
EXIT_NOTHING_WRITTEN = 1
_SHARD = re.compile(r"(\d+)/(\d+)", re.ASCII)

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count`` (0-based: 0/4 ... 3/4) of a dataset's input cases, for runs that
    share a dataset across processes or machines: the cases at positions index, index + count, ...
    of the sorted list, so the parts differ by one case at most and together are every case once."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """The shard written ``I/N``; ``ValueError`` (one line) unless 0 <= I < N."""
        match = _SHARD.fullmatch(text.strip())
        if not match or int(match[1]) >= int(match[2]):
            raise ValueError(f"expected I/N, the 0-based part I of N parts (0 <= I < N, e.g. 0/4 to 3/4), got {text!r}")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, items: Sequence[T]) -> list[T]:
        """This shard's part of ``items`` (the whole list for the one shard 0/1)."""
        return list(items[self.index::self.count])

    @property
    def report_file(self) -> str:
        """The report's file name: ``report.json``, or ``report-shard-I-of-N.json`` for one of
        several shards (shards writing into one folder would otherwise replace each other's)."""
        return REPORT_FILE if self.count == 1 else f"report-shard-{self.index}-of-{self.count}.json"


@dataclass
class DatasetReport:
    """What a dataset command did (``report.json``).

    Attributes:
        command: the command's name.
        written: ids of the case folders the dataset holds from the runs so far, in order.
        resumed: ids this run found already written (by an earlier run) and left as they were.
        skipped: {"case", "reason"} of every input case that produced no output.
        shrunk: {"case", "asked_mm", "used_mm"} of every lesion made smaller than asked to fit.
    """

    command: str
    written: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    shrunk: list[dict] = field(default_factory=list)


class DatasetWriter:
    """Writes case folders into the dataset folder ``out`` and keeps its report (``report_file``).

    Creating it makes ``out``, removes the hidden partial folders and files left by a killed run and reads the
    report of an earlier run into the same folder (its written cases are kept; its skips and
    shrinks are retried, so only this run's are reported). ``cases``, when other runs write into
    ``out`` at the same time: the ids this run writes, whose partial folders alone are its to remove.
    """

    def __init__(self, out: str | Path, command: str, report_file: str = REPORT_FILE,
                 cases: Collection[str] | None = None):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise CaseError(f"{self.out}: exists and is not a folder (the output is a dataset folder)")
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in self.out.glob(f"{PARTIAL_PREFIX}*"):
            if cases is None or _partial_case_id(stale.name) in cases:
                shutil.rmtree(stale, ignore_errors=True)
        self.report_path = self.out / report_file
        remove_partial_files(self.out, report_file)  # a report being replaced when the run was killed
        self.report = DatasetReport(command)
        self.written_now = 0
        self.started = time.perf_counter()
        if self.report_path.is_file():
            earlier = read_json(self.report_path, CaseError)
            if isinstance(earlier, dict) and isinstance(earlier.get("written"), list):
                self.report.written = [str(c) for c in earlier["written"] if (self.out / str(c)).is_dir()]

    def done(self, case_id: str) -> bool:
        """Whether case ``case_id`` was written (by this run or an earlier one); records an earlier
        one as resumed."""
        if not (self.out / case_id).is_dir():
            return False
        if case_id not in self.report.resumed:
            self.report.resumed.append(case_id)
        if case_id not in self.report.written:
            self.report.written.append(case_id)
        return True

    def write(self, case: Case, naming: str, documents: dict[str, dict] | None = None) -> Path:
        """Write ``case`` as the folder ``out/<case.case_id>`` (:func:`write_case_folder`) and
        record it."""
        folder = write_case_folder(self.out, case, naming, documents)
        self.record(case.case_id)
        return folder

    def record(self, case_id: str) -> None:
        """Record case ``case_id`` as written (its folder was written by :func:`write_case_folder`,
        possibly in another process)."""
        self.report.written.append(case_id)
        self.written_now += 1
        self._save()

    def skip(self, case_id: str, reason: str) -> None:
        """Record that ``case_id`` produced no output, and why (one line)."""
        self.report.skipped.append({"case": case_id, "reason": reason})
        print(f"skipped {case_id}: {reason}", file=sys.stderr)
        self._save()

    def shrink(self, case_id: str, asked_mm: tuple[float, float], used_mm: float) -> None:
        """Record a lesion of ``used_mm`` mean diameter where ``asked_mm`` (min, max) was asked."""
        self.report.shrunk.append({"case": case_id, "asked_mm": list(asked_mm), "used_mm": round(float(used_mm), 2)})
        self._save()

    def finish(self) -> int:
        """Write the report, print a summary (with the cases written per second since the writer
        was made); the exit status: 0 when the dataset holds at least one case,
        :data:`EXIT_NOTHING_WRITTEN` otherwise."""
        self._save()
        report = self.report
        seconds = time.perf_counter() - self.started
        print(f"{report.command}: wrote {self.written_now} case(s) to {self.out} in {seconds:.1f} s "
              f"({self.written_now / seconds:.2f} case/s)"
              + (f", {len(report.resumed)} already there" if report.resumed else "")
              + (f", skipped {len(report.skipped)}" if report.skipped else "")
              + (f", shrank {len(report.shrunk)} lesion(s)" if report.shrunk else "")
              + f"; details in {self.report_path}")
        if report.written or report.resumed:
            return 0
        print(f"{report.command}: no case was written", file=sys.stderr)
        return EXIT_NOTHING_WRITTEN

    def _save(self) -> None:
        atomic_write_bytes(self.report_path, (json.dumps(asdict(self.report), indent=2) + "\n").encode("utf-8"))


def _partial_case_id(name: str) -> str:
    """The case id of a partial folder's name (``.partial-<id>-<hex>``, :func:`write_case_folder`)."""
    return name[len(PARTIAL_PREFIX):].rpartition("-")[0]


def write_case_folder(out: Path, case: Case, naming: str, documents: dict[str, dict] | None = None) -> Path:
    """Write ``case`` (BraTS layout, ``naming``) and the JSON ``documents`` (file name -> object,
    e.g. provenance.json) as the folder ``out/<case.case_id>``, atomically: into a hidden temporary
    folder, every file verified, then renamed whole.

    Raises :class:`CaseError` if that folder exists already; ``ImageFileError`` if a file cannot
    be written whole (nothing is left behind).
    """
    final = Path(out) / case.case_id
    if final.exists():
        raise CaseError(f"{final}: exists already")
    partial = Path(out) / f"{PARTIAL_PREFIX}{case.case_id}-{secrets.token_hex(4)}"
    try:
        write_brats_case(case, partial, naming)
        for name, document in (documents or {}).items():
            atomic_write_bytes(partial / name, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        fsync_directory(partial)
        os.rename(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    fsync_directory(Path(out))
    return final
