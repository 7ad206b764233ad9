"""Reading sessions: one reader works through the study's cases in their own order.

Front ends (the Slicer module, a web page, the command line) call :func:`open_session` and then
show :attr:`Session.current`, :meth:`Session.record` answers and, where the study allows it,
:meth:`Session.go_back`. Every answer is committed to the reader's journal before ``record``
returns, so a session that crashes or is killed resumes, when opened again, at the first case
the reader has not answered. :func:`record_answer` enters one answer without a session (scripts,
transcribed paper forms).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import JournalCorruptError, SessionError
from .journal import Answer, AnswerRecord, JournalWriter, open_journal_writer, read_journal, reader_ids
from .study_package import StudyPackage, open_package


def reader_order(package_id: str, case_ids: tuple[str, ...] | list[str], reader: str) -> tuple[str, ...]:
    """The order in which ``reader`` sees the cases: a shuffle seeded by package and reader id.

    Sorting by a hash of (package, reader, case) gives every reader a different random order that
    is the same every time the session opens, independent of library and Python versions.
    """
    def rank(case: str) -> str:
        return hashlib.sha256(f"{package_id}\0{reader}\0{case}".encode()).hexdigest()

    return tuple(sorted(case_ids, key=rank))


@dataclass(frozen=True)
class Progress:
    """How far a reader is: ``answered`` of ``total`` cases; ``position``: 1-based place of the
    current case in the reader's order (None when every case is answered and none is shown)."""

    answered: int
    total: int
    position: int | None

    @property
    def done(self) -> bool:
        return self.answered == self.total


class Session:
    """One reader's open session. Holds the reader's journal lock until :meth:`close`.

    Open with :func:`open_session`. Time per case is measured from the moment a case becomes
    :attr:`current` until :meth:`record`, with ``clock`` (seconds, monotonic).
    """

    def __init__(self, package: StudyPackage, writer: JournalWriter, clock: Callable[[], float]):
        self.package = package
        self.reader = writer.reader
        self.order = reader_order(package.manifest.package_id, package.manifest.case_ids, self.reader)
        self._writer = writer
        self._clock = clock
        self._position = self._frontier()
        self._shown_at = clock()

    @property
    def settings(self):
        return self.package.manifest.settings

    @property
    def warnings(self) -> list[str]:
        """What was repaired when the session opened (a torn last journal line), for the user."""
        return list(self._writer.warnings)

    @property
    def answers(self) -> dict[str, AnswerRecord]:
        """Case id -> the reader's current answer."""
        return self._writer.journal.latest()

    def _frontier(self) -> int:
        """Index in :attr:`order` of the first case without an answer (len(order) when all have one)."""
        answered = self.answers
        return next((i for i, case in enumerate(self.order) if case not in answered), len(self.order))

    def _move_to(self, position: int) -> str | None:
        self._position = position
        self._shown_at = self._clock()
        return self.current

    @property
    def current(self) -> str | None:
        """The case to show now, or None when the reader has answered every case."""
        return self.order[self._position] if self._position < len(self.order) else None

    @property
    def current_files(self) -> dict[str, Path]:
        """Contrast -> image file of the current case."""
        if self.current is None:
            raise SessionError(f"reader {self.reader!r} has answered every case")
        return self.package.case_files(self.current)

    @property
    def current_answer(self) -> AnswerRecord | None:
        """The reader's earlier answer for the current case (when revisiting), else None."""
        return None if self.current is None else self.answers.get(self.current)

    @property
    def progress(self) -> Progress:
        position = self._position + 1 if self.current is not None else None
        return Progress(len(self.answers), len(self.order), position)

    def elapsed_s(self) -> float:
        """Seconds the current case has been shown."""
        return self._clock() - self._shown_at

    def time_left_s(self) -> float | None:
        """Seconds left under the study's time limit (may be negative), or None without a limit."""
        limit = self.settings.time_limit_s
        return None if limit is None else limit - self.elapsed_s()

    def record(self, label: str, confidence: int, realism: int, comment: str = "") -> AnswerRecord:
        """Commit the answer for the current case and move on; returns the committed record.

        After a new answer the next unanswered case is shown; after changing an earlier answer
        (having gone back), the case after it.
        """
        case = self.current
        if case is None:
            raise SessionError(f"reader {self.reader!r} has answered every case; nothing to record")
        revisiting = self._position < self._frontier()
        record = self._writer.append(case, Answer(label, confidence, realism, comment),
                                     time_s=self.elapsed_s(), via="session")
        self._move_to(self._position + 1 if revisiting else self._frontier())
        return record

    @property
    def can_go_back(self) -> bool:
        return self.settings.allow_back and self._position > 0

    def go_back(self) -> str:
        """Show the previous case of the reader's order (to review or change its answer)."""
        if not self.settings.allow_back:
            raise SessionError("this study does not allow going back to earlier cases")
        if self._position == 0:
            raise SessionError("already at the first case")
        return self._move_to(self._position - 1)

    def go_forward(self) -> str | None:
        """After going back, show the next case without changing the current answer."""
        if self._position >= self._frontier():
            raise SessionError("answer the current case before going on")
        return self._move_to(self._position + 1)

    def close(self) -> None:
        """Release the reader's journal and lock (answers are already saved)."""
        self._writer.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _as_package(package: StudyPackage | str | os.PathLike) -> StudyPackage:
    return package if isinstance(package, StudyPackage) else open_package(package)


def open_session(
    package: StudyPackage | str | os.PathLike,
    reader: str,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Session:
    """Open (or resume) ``reader``'s session on a study package.

    Raises :class:`ReaderBusyError` when the reader has a session open in another process,
    :class:`JournalCorruptError` for a damaged journal, :class:`SessionError` for an invalid or
    unlisted reader id.
    """
    package = _as_package(package)
    return Session(package, open_journal_writer(package, reader), clock)


class RecordedAnswer(NamedTuple):
    """What :func:`record_answer` committed, the answer it replaces (or None), and what was repaired
    in the journal first (a torn last line), for the user."""

    record: AnswerRecord
    replaced: AnswerRecord | None
    warnings: list[str]


def record_answer(
    package: StudyPackage | str | os.PathLike,
    reader: str,
    case: str,
    answer: Answer,
    *,
    time_s: float | None = None,
    lock_timeout_s: float = 5.0,
) -> RecordedAnswer:
    """Commit one answer outside a session.

    Changing an existing answer needs a study that allows going back. Waits up to
    ``lock_timeout_s`` for another process answering for the same reader.
    """
    package = _as_package(package)
    package.case_files(case)
    with open_journal_writer(package, reader, lock_timeout_s=lock_timeout_s) as writer:
        earlier = writer.journal.latest().get(case)
        if earlier is not None and not package.manifest.settings.allow_back:
            raise SessionError(
                f"reader {reader!r} already answered case {case} ({earlier.label}); "
                "this study does not allow changing answers"
            )
        record = writer.append(case, answer, time_s=time_s, via="command line")
        return RecordedAnswer(record, earlier, list(writer.warnings))


@dataclass(frozen=True)
class ReaderStatus:
    """One reader's progress as :func:`study_status` reports it; ``error`` for a damaged journal."""

    reader: str
    answered: int
    total: int
    last_answer_at: str | None
    warning: str | None = None
    error: str | None = None


def study_status(package: StudyPackage | str | os.PathLike) -> list[ReaderStatus]:
    """Progress of every listed reader and every reader with a journal (without taking locks)."""
    package = _as_package(package)
    total = len(package.manifest.cases)
    statuses = []
    for reader in reader_ids(package):
        try:
            journal = read_journal(package, reader)
        except JournalCorruptError as exc:
            statuses.append(ReaderStatus(reader, 0, total, None, error=str(exc)))
            continue
        last = journal.records[-1].recorded_at if journal.records else None
        statuses.append(ReaderStatus(reader, len(journal.latest()), total, last, journal.warning))
    return statuses
