"""The bytes of a reader's journal: chained lines, optionally keyed with the study secret, and the
journal's head file.

Line format 2 (written now): the record's fields plus ``v`` (2), ``prev`` (the digest of the line
before, "" for the first) and ``keyed``, and ``digest``: the SHA-256 of the canonical JSON (sorted
keys, no spaces, UTF-8) of all of that, or its HMAC-SHA-256 with the organizer's study secret when
``keyed``. Each digest covers the previous one, so changing, inserting, removing or reordering a
line breaks the chain at that line; with the secret, nobody without it can compute the digests of
an edited line or of the lines after it.

Line format 1 (journals written before): the record's fields and ``sha256`` of them, unchained. It
is still read; format-2 lines appended to it chain from its last line's checksum.

A chain cannot show that lines were cut from its end. The head file (``<reader>.head``, replaced
atomically after each answer) records the last line's number and digest, with an HMAC of them when
keyed: a journal shorter than its head is refused. It may lag one line behind (a crash between
the answer and the head's update), never more. With the secret, a head cannot be forged for a
shorter journal; without it, the chain and head catch damage and careless edits, not a forger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.durable import atomic_write_bytes
from .errors import JournalCorruptError, StudyPackageError

LINE_FORMAT = 2
HEAD_SUFFIX = ".head"
MIN_SECRET_BYTES = 16


def canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _digest(data: bytes, secret: bytes | None) -> str:
    if secret is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def read_study_secret(path: str | os.PathLike) -> bytes:
    """The organizer's study secret: the file's content without surrounding white space (at least
    16 bytes; e.g. ``openssl rand -hex 32 > study.secret``)."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise StudyPackageError(f"{path}: cannot read the study secret ({exc.strerror})") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise StudyPackageError(f"{path}: a study secret needs at least {MIN_SECRET_BYTES} characters")
    return secret


def encode_line(fields: dict, previous: str, secret: bytes | None) -> tuple[bytes, str]:
    """A format-2 journal line (newline included) of a record's ``fields``, chained to the digest
    ``previous``; returns it and its digest."""
    body = {**fields, "v": LINE_FORMAT, "prev": previous, "keyed": secret is not None}
    digest = _digest(canonical(body), secret)
    return canonical({**body, "digest": digest}) + b"\n", digest


@dataclass(frozen=True)
class Line:
    """A checked line: the record's fields, its digest, whether it is keyed, and whether its digest
    was verified (a keyed line read without the secret cannot be)."""

    fields: dict
    digest: str
    keyed: bool
    verified: bool
    version: int = LINE_FORMAT


def decode_line(raw: bytes, previous: str, secret: bytes | None, *, chained: bool, after_keyed: bool) -> Line:
    """Parse and check one line following the digest ``previous`` (``chained``: of a format-2 line;
    ``after_keyed``: a keyed line came before); ValueError says what is wrong."""
    try:
        fields = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    version = fields.pop("v", 1)
    if version == 1:
        checksum = fields.pop("sha256", None)
        if checksum is None:
            raise ValueError("no checksum")
        if not hmac.compare_digest(hashlib.sha256(canonical(fields)).hexdigest(), str(checksum)):
            raise ValueError("checksum mismatch (the line was altered or damaged)")
        if chained:
            raise ValueError("an unchained line after chained ones (inserted by hand)")
        return Line(fields, str(checksum), keyed=False, verified=True, version=1)
    if version != LINE_FORMAT:
        raise ValueError(f"line format {version!r} is newer than this SynthPathology reads; update it")
    digest, prev, keyed = fields.pop("digest", None), fields.pop("prev", None), fields.pop("keyed", None)
    if not isinstance(digest, str) or not isinstance(keyed, bool):
        raise ValueError("no digest")
    if prev != previous:
        raise ValueError("does not follow the line before it (lines removed, inserted or reordered)")
    if after_keyed and not keyed:
        raise ValueError("an unkeyed line after keyed ones (written without the study secret, or forged)")
    if secret is not None and not keyed:
        raise ValueError("not keyed with the study secret (written without it, or forged)")
    body = canonical({**fields, "v": version, "prev": prev, "keyed": keyed})
    if keyed and secret is None:
        return Line(fields, digest, keyed=True, verified=False)
    if not hmac.compare_digest(_digest(body, secret if keyed else None), digest):
        raise ValueError("digest mismatch (the line was altered, or the study secret is not this study's)")
    return Line(fields, digest, keyed=keyed, verified=True)


def head_path(journal: Path) -> Path:
    return journal.with_suffix(HEAD_SUFFIX)


def _head_mac(seq: int, digest: str, secret: bytes) -> str:
    return _digest(f"head\0{seq}\0{digest}".encode(), secret)


def write_head(journal: Path, seq: int, digest: str, secret: bytes | None) -> None:
    """Record the journal's last line (number and digest), keyed when ``secret`` is given."""
    head = {"seq": seq, "digest": digest, "mac": None if secret is None else _head_mac(seq, digest, secret)}
    atomic_write_bytes(head_path(journal), canonical(head) + b"\n")


def check_head(journal: Path, digests: list[str], secret: bytes | None, keyed: bool) -> bool:
    """Check the journal (its lines' ``digests``) against its head; returns whether the head lags
    one line behind (to be rewritten by the next writer). Raises :class:`JournalCorruptError`."""
    path = head_path(journal)
    try:
        head = json.loads(path.read_bytes())
    except FileNotFoundError:
        if keyed and secret is not None:
            raise JournalCorruptError(f"{path}: missing; the keyed journal {journal.name} cannot be checked "
                                      "for removed answers") from None
        return bool(digests)
    except (OSError, ValueError) as exc:
        raise JournalCorruptError(f"{path}: unreadable ({exc})") from None
    seq, digest = (head.get("seq"), head.get("digest")) if isinstance(head, dict) else (None, None)
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(digest, str):
        raise JournalCorruptError(f"{path}: malformed")
    if secret is not None and keyed and not hmac.compare_digest(str(head.get("mac")), _head_mac(seq, digest, secret)):
        raise JournalCorruptError(f"{path}: its keyed checksum does not match (altered, or another study's secret)")
    if seq > len(digests):
        raise JournalCorruptError(f"{journal}: {len(digests)} answer line(s), but its head records {seq}: "
                                  "answers were removed from its end")
    if seq < len(digests) - 1 or (seq and digests[seq - 1] != digest):
        raise JournalCorruptError(f"{journal}: does not match its head (line {seq}); lines were changed or "
                                  "added outside SynthPathology")
    return seq < len(digests)
