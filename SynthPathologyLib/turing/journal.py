"""Per-reader answer journals: append-only JSON Lines, crash-safe, one writer per reader at a time.

Each reader has ``readers/<reader>.jsonl`` in the study package. One line per answer, a JSON
object holding the whole answer, a sequence number (1, 2, ...) and a digest that covers the line
and the digest of the line before it, keyed with the organizer's study secret when the package is
opened with one (:mod:`.journal_format`; journals of the first, unchained format are still read),
and ``readers/<reader>.head`` with the last line's number and digest, so that a removed last
answer is noticed too. A later answer for the same case supersedes an earlier one (when the study
allows going back).

Committing an answer: the full line, newline included, is written with a single ``write`` on an
``O_APPEND`` descriptor, then ``fsync``-ed (and the folder too when the journal was just created).
An answer is committed when :meth:`JournalWriter.append` returns; a crash or kill at any moment
before that loses only the answer being written, never an earlier one.

Reading: a complete line (ending in a newline) that is not valid JSON, fails its checksum or its
field checks, or breaks the sequence is corruption: :class:`JournalCorruptError` names the file
and line, and nothing is dropped. A last line *without* newline is a torn write from a crash: since
the newline is part of the single write that precedes the fsync, such an answer was never
committed. Reading only (status, analysis), it is ignored with a warning; opening a writer, under
the reader's lock, moves its bytes to ``<reader>.jsonl.torn`` and cuts the journal back to its last
newline, with a warning, so that the next answer starts on a clean line.

Concurrency: different readers never share a file. A writer holds an exclusive lock on
``readers/<reader>.lock`` (``fcntl.flock``; ``msvcrt.locking`` on Windows) for as long as it is
open, so two processes can never interleave one reader's answers; the operating system releases
the lock when its process dies, so a killed session never blocks the next one.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from ..core.durable import fsync_directory
from .errors import JournalCorruptError, ReaderBusyError, SessionError, StudyPackageError
from .journal_format import check_head, decode_line, encode_line, write_head
from .study_package import READER_ID_RE, StudyPackage

JOURNAL_SUFFIX = ".jsonl"
LABELS = ("real", "synthetic")
RATINGS = range(1, 6)
MAX_COMMENT_CHARS = 2000
VIA = ("session", "command line")
# Windows would translate "\n" to "\r\n" without O_BINARY; elsewhere it does not exist.
_O_BINARY = getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class Answer:
    """What a reader says about one case.

    ``label``: "real" or "synthetic"; ``confidence`` in the label, 1-5; ``realism``: 1-5, how much
    the case looks like the stated pathology; ``comment``: free text (at most 2000 characters).
    """

    label: str
    confidence: int
    realism: int
    comment: str = ""


@dataclass(frozen=True)
class AnswerRecord:
    """One journal line: an answer with who, which case, when, how long, and its place in the journal.

    ``time_s`` is the time the case was shown before answering (None when unknown, e.g. typed in
    from a paper form); ``time_limit_exceeded`` is None when the study has no limit or the time is
    unknown. ``via`` says how it was entered: "session" or "command line".
    """

    seq: int
    package_id: str
    reader: str
    case: str
    label: str
    confidence: int
    realism: int
    comment: str
    time_s: float | None
    time_limit_exceeded: bool | None
    recorded_at: str
    via: str

    @property
    def answer(self) -> Answer:
        return Answer(self.label, self.confidence, self.realism, self.comment)


_RECORD_FIELDS = frozenset(AnswerRecord.__dataclass_fields__)


def answer_problem(answer: Answer, time_s: float | None = None) -> str | None:
    """Why ``answer`` (and ``time_s``) cannot be recorded, or None if they can."""
    if answer.label not in LABELS:
        return f"label must be 'real' or 'synthetic', got {answer.label!r}"
    for name in ("confidence", "realism"):
        value = getattr(answer, name)
        if isinstance(value, bool) or not isinstance(value, int) or value not in RATINGS:
            return f"{name} must be a whole number from 1 to 5, got {value!r}"
    if not isinstance(answer.comment, str) or len(answer.comment) > MAX_COMMENT_CHARS:
        return f"comment must be text of at most {MAX_COMMENT_CHARS} characters"
    if time_s is not None and (isinstance(time_s, bool) or not isinstance(time_s, (int, float))
                               or not math.isfinite(time_s) or time_s < 0):
        return f"time spent must be a non-negative number of seconds, got {time_s!r}"
    return None


def _record(fields: dict) -> AnswerRecord:
    """The record of a line's fields; ValueError says what is wrong."""
    if set(fields) != _RECORD_FIELDS:
        raise ValueError(f"unexpected fields {sorted(set(fields) ^ _RECORD_FIELDS)}")
    record = AnswerRecord(**fields)
    problem = answer_problem(record.answer, record.time_s)
    if problem:
        raise ValueError(problem)
    return record


@dataclass(frozen=True)
class Journal:
    """A reader's committed answers, oldest first, the size of an ignored torn last line (0: none),
    the last line's digest (the next line chains from it), whether its lines are keyed, how many
    keyed lines could not be verified (read without the study secret), and whether the head file
    is one line behind."""

    path: Path
    reader: str
    records: tuple[AnswerRecord, ...] = ()
    torn_tail_bytes: int = 0
    last_digest: str = ""
    keyed: bool = False
    unverified: int = 0
    head_behind: bool = False

    @property
    def warning(self) -> str | None:
        notes = []
        if self.torn_tail_bytes:
            notes.append(f"{self.path}: ignoring an incomplete last line ({self.torn_tail_bytes} bytes), left by "
                         "an interrupted write or one in progress; that answer was never committed")
        if self.unverified:
            notes.append(f"{self.path}: {self.unverified} keyed answer line(s) not verified: give the study "
                         "secret to check them")
        return "; ".join(notes) or None

    def latest(self) -> dict[str, AnswerRecord]:
        """Case id -> the reader's current answer (later answers supersede earlier ones)."""
        return {record.case: record for record in self.records}


def journal_path(package: StudyPackage, reader: str) -> Path:
    return package.readers_dir / f"{package.check_reader(reader)}{JOURNAL_SUFFIX}"


def _record_problem(record: AnswerRecord, number: int, reader: str, package_id: str, case_ids: set[str]) -> str | None:
    """Why a well-formed line does not belong at line ``number`` of ``reader``'s journal, or None."""
    if record.seq != number:
        return f"sequence number {record.seq!r} where {number} was expected (lines missing or reordered)"
    if record.reader != reader:
        return f"answer of reader {record.reader!r}, not {reader!r}"
    if record.package_id != package_id:
        return f"answer for another study package ({record.package_id!r})"
    if not isinstance(record.case, str) or record.case not in case_ids:
        return f"case {record.case!r} is not in this study package"
    if record.via not in VIA or not isinstance(record.recorded_at, str):
        return "malformed entry method or time stamp"
    return None


def read_journal(package: StudyPackage, reader: str) -> Journal:
    """Read and check a reader's journal (empty if the reader has not answered yet).

    Raises :class:`JournalCorruptError` naming the file and line of the first damaged line.
    """
    path = journal_path(package, reader)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records, digests = [], []
    case_ids = set(package.manifest.case_ids)
    previous, chained, keyed, unverified = "", False, False, 0
    for number, raw in enumerate(lines, start=1):
        try:
            line = decode_line(raw, previous, package.secret, chained=chained, after_keyed=keyed)
            record = _record(line.fields)
            problem = _record_problem(record, number, reader, package.manifest.package_id, case_ids)
            if problem:
                raise ValueError(problem)
        except (ValueError, TypeError) as exc:
            raise JournalCorruptError(
                f"{path}: line {number} is damaged: {exc}. No answer was dropped: keep a copy of the "
                "journal and repair or restore it before going on"
            ) from None
        records.append(record)
        digests.append(line.digest)
        previous, keyed, unverified = line.digest, keyed or line.keyed, unverified + (not line.verified)
        chained = chained or line.version > 1
    behind = check_head(path, digests, package.secret, keyed)
    return Journal(path, reader, tuple(records), len(tail), previous, keyed, unverified, behind)


def reader_ids(package: StudyPackage) -> list[str]:
    """The study's listed readers and every reader with a journal, sorted.

    Raises :class:`StudyPackageError` for a journal of a reader the study does not list.
    """
    found = set(package.manifest.readers)
    if package.readers_dir.is_dir():
        found.update(p.name[: -len(JOURNAL_SUFFIX)] for p in package.readers_dir.iterdir()
                     if p.name.endswith(JOURNAL_SUFFIX) and READER_ID_RE.match(p.name[: -len(JOURNAL_SUFFIX)]))
    strangers = sorted(found - set(package.manifest.readers)) if package.manifest.readers else []
    if strangers:
        raise StudyPackageError(
            f"{package.readers_dir}: journals of readers this study does not list: {', '.join(strangers)}"
        )
    return sorted(found)


# --- locking ---------------------------------------------------------------------------------


def _try_lock(fd: int) -> None:
    """Take an exclusive lock on ``fd`` without waiting; OSError if another process holds it."""
    if os.name == "nt":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def lock_reader(package: StudyPackage, reader: str, timeout_s: float = 0.0) -> int:
    """Lock ``reader``'s journal for this process, waiting up to ``timeout_s``; return the lock's fd.

    Closing the fd (or the process ending) releases the lock. Raises :class:`ReaderBusyError`.
    """
    package.readers_dir.mkdir(exist_ok=True)
    path = package.readers_dir / f"{package.check_reader(reader)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_BINARY, 0o644)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _try_lock(fd)
            break
        except OSError:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            holder = _lock_holder(fd)
            os.close(fd)
            raise ReaderBusyError(
                f"reader {reader!r} already has a session open{holder}; close it (or wait for it) first"
            ) from None
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode())  # for the message another process may show
    return fd


def _lock_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        pid = os.read(fd, 32).decode().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


# --- writing ---------------------------------------------------------------------------------


@dataclass
class JournalWriter:
    """Appends one reader's answers; holds the reader's lock until :meth:`close`.

    Open with :func:`open_journal_writer`. ``journal`` is kept up to date with every append;
    ``warnings`` says what was repaired when opening (a torn last line).
    """

    package: StudyPackage
    reader: str
    journal: Journal
    warnings: list[str] = field(default_factory=list)
    _fd: int = -1
    _lock_fd: int = -1
    _size: int = 0

    def append(self, case: str, answer: Answer, *, time_s: float | None, via: str) -> AnswerRecord:
        """Commit one answer (durable when this returns) and return its record."""
        if self._fd < 0:
            raise SessionError(f"{self.journal.path}: the journal is closed")
        self.package.case_files(case)  # refuses unknown cases
        problem = answer_problem(answer, time_s)
        if problem:
            raise SessionError(f"case {case}: {problem}")
        limit = self.package.manifest.settings.time_limit_s
        record = AnswerRecord(
            seq=len(self.journal.records) + 1,
            package_id=self.package.manifest.package_id,
            reader=self.reader,
            case=case,
            label=answer.label,
            confidence=answer.confidence,
            realism=answer.realism,
            comment=answer.comment,
            time_s=None if time_s is None else float(time_s),
            time_limit_exceeded=None if limit is None or time_s is None else bool(time_s > limit),
            recorded_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            via=via,
        )
        secret = self.package.secret
        data, digest = encode_line(asdict(record), self.journal.last_digest, secret)
        line = memoryview(data)
        try:
            while line:
                line = line[os.write(self._fd, line):]
            os.fsync(self._fd)
            write_head(self.journal.path, record.seq, digest, secret)
        except OSError as exc:
            os.ftruncate(self._fd, self._size)  # drop the partial line so the journal stays clean
            raise SessionError(f"{self.journal.path}: could not save the answer for case {case} ({exc}); "
                               "it was not recorded") from None
        self._size += len(data)
        self.journal = replace(self.journal, records=(*self.journal.records, record), last_digest=digest,
                               keyed=secret is not None)
        return record

    def close(self) -> None:
        """Release the journal and the reader's lock (idempotent)."""
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _cut_torn_tail(journal: Journal) -> str:
    """Move a torn last line to ``<journal>.torn`` and cut the journal back to its last newline."""
    path = journal.path
    size = path.stat().st_size
    keep = size - journal.torn_tail_bytes
    with open(path, "rb") as stream:
        stream.seek(keep)
        tail = stream.read()
    torn = path.with_name(path.name + ".torn")
    with open(torn, "ab") as stream:
        stream.write(tail + b"\n")
        stream.flush()
        os.fsync(stream.fileno())
    fsync_directory(path.parent)
    with open(path, "r+b") as stream:
        stream.truncate(keep)
        os.fsync(stream.fileno())
    return (f"{path}: the last line ({len(tail)} bytes) was incomplete, left by an interrupted session; that "
            f"answer was never committed and must be given again. Its bytes were moved to {torn.name}")


def open_journal_writer(package: StudyPackage, reader: str, *, lock_timeout_s: float = 0.0) -> JournalWriter:
    """Lock ``reader``'s journal, check it, repair a torn last line, and return a writer.

    Raises :class:`ReaderBusyError` when another process holds the reader's lock after
    ``lock_timeout_s`` seconds, :class:`JournalCorruptError` for a damaged journal.
    """
    lock_fd = lock_reader(package, reader, lock_timeout_s)
    try:
        journal = read_journal(package, reader)
        if journal.keyed and package.secret is None:
            raise SessionError(f"{journal.path}: this study's answers are keyed with its secret; open the study "
                               "with the study secret to answer")
        warnings = [_cut_torn_tail(journal)] if journal.torn_tail_bytes else []
        if journal.head_behind:  # an answer committed just before a crash, or a journal of the first format
            write_head(journal.path, len(journal.records), journal.last_digest, package.secret)
        created = not journal.path.exists()
        fd = os.open(journal.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_BINARY, 0o644)
        if created:
            fsync_directory(journal.path.parent)
    except BaseException:
        os.close(lock_fd)
        raise
    journal = replace(journal, torn_tail_bytes=0, head_behind=False)
    return JournalWriter(package, reader, journal, warnings, fd, lock_fd, os.fstat(fd).st_size)


def read_all_journals(package: StudyPackage) -> dict[str, Journal]:
    """Reader -> journal for every reader of :func:`reader_ids`."""
    return {reader: read_journal(package, reader) for reader in reader_ids(package)}
