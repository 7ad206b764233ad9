"""Writing files so that a crash never leaves a half-written one (temporary file, fsync, rename),
and reading JSON back with a one-line error naming the file."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

PARTIAL_SUFFIX = ".partial"


def fsync_directory(folder: Path) -> None:
    """Make a file's creation or renaming inside ``folder`` durable (POSIX; a no-op on Windows,
    which cannot open folders)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``.

    With ``exclusive=True`` an existing ``path`` is never replaced: :class:`FileExistsError`. The
    name is then claimed first with an exclusive create, which works on every file system (hard
    links, the other way, do not exist on FAT drives, where keys often travel).
    """
    path = Path(path)
    if exclusive:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    try:
        with open(partial, "xb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    fsync_directory(path.parent)


def remove_partial_files(folder: Path, name: str = "*") -> list[Path]:
    """Remove the temporary files that :func:`atomic_write_bytes` left in ``folder`` when its
    process was killed mid-write (of the file ``name`` only, if given); the removed paths."""
    stale = [p for p in Path(folder).glob(f".{name}.*{PARTIAL_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def read_json(path: Path, error: type[Exception]) -> Any:
    """Parsed JSON of ``path``; ``error`` (naming the file) when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
