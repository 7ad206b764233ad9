"""The study package: what readers of a visual Turing test get, and its manifest.

Layout of a package folder::

    manifest.json             format, version, pathology, contrasts, settings, readers, cases
    cases/<id>/<contrast>.nii one uncompressed NIfTI per contrast, <id> anonymous (8 hex digits)
    readers/<reader>.jsonl    each reader's answer journal (see :mod:`.journal`)

The manifest holds nothing about where a case came from: the answer key lives in a separate file
outside the package (see :mod:`.answer_key`). Its schema is checked by the explicit validator
below (a small one, so that opening a reading session stays fast), and every path in it must
resolve to a plain file inside the package: absolute paths, ``..`` and symbolic links are refused.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..core.durable import atomic_write_bytes
from .errors import SessionError, StudyPackageError, UnsafePathError

MANIFEST_NAME = "manifest.json"
CASES_DIR = "cases"
READERS_DIR = "readers"
FORMAT = "synthpathology-turing-package"
FORMAT_VERSION = 1
IMAGE_SUFFIX = ".nii"

CASE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
READER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_CONTRAST_RE = re.compile(r"^[a-z0-9]{1,32}$")
_PACKAGE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_WINDOWS_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Settings:
    """Reading conditions, the same for every reader of a study.

    ``allow_back``: whether a reader may return to an answered case and change the answer.
    ``time_limit_s``: seconds per case after which an answer is flagged as late (None: no limit).
    """

    allow_back: bool = False
    time_limit_s: float | None = None


@dataclass(frozen=True)
class CaseEntry:
    """One reader-visible case: anonymous id and contrast -> path relative to the package."""

    id: str
    files: dict[str, str]


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` of a study package (cases sorted by id)."""

    package_id: str
    pathology: str
    contrasts: tuple[str, ...]
    dtype: str
    intensity_range: tuple[float, float]
    settings: Settings
    readers: tuple[str, ...]
    cases: tuple[CaseEntry, ...]

    @property
    def case_ids(self) -> tuple[str, ...]:
        return tuple(case.id for case in self.cases)

    def to_json(self) -> dict:
        return study_document(
            FORMAT, FORMAT_VERSION, self.package_id,
            pathology=self.pathology,
            contrasts=list(self.contrasts),
            image={"format": "nifti1", "dtype": self.dtype, "intensity_range": list(self.intensity_range)},
            settings={"allow_back": self.settings.allow_back, "time_limit_s": self.settings.time_limit_s},
            readers=list(self.readers),
            cases=[{"id": case.id, "files": dict(case.files)} for case in self.cases],
        )


def study_document(format_name: str, version: int, package_id: str, **fields: object) -> dict:
    """A study's JSON document (the manifest, the answer key): its format, version and package id
    first, then ``fields``."""
    return {"format": format_name, "version": version, "package_id": package_id, **fields}


def write_study_document(path: Path, document: dict, exclusive: bool = False) -> None:
    """Write ``document`` (:func:`study_document`) to ``path`` atomically as indented UTF-8 JSON;
    ``exclusive``: refuse (``FileExistsError``) to replace an existing file."""
    atomic_write_bytes(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), exclusive=exclusive)


def case_file_path(case_id: str, contrast: str) -> str:
    """The manifest path of one contrast of a case: the same pattern for every case."""
    return f"{CASES_DIR}/{case_id}/{contrast}{IMAGE_SUFFIX}"


def validate_reader_id(reader: str) -> str:
    """Return ``reader`` if it is a safe reader id (it names the reader's journal file)."""
    if not isinstance(reader, str) or not READER_ID_RE.match(reader):
        raise SessionError(
            f"reader id {reader!r} is not allowed: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return reader


# --- path safety -----------------------------------------------------------------------------


def plain_files(root: Path) -> set[str]:
    """Relative POSIX paths of the regular files under ``root`` reached without any symbolic link.

    One directory scan (no stat per file), so checking thousands of manifest paths stays quick.
    """
    found: set[str] = set()
    folders = [""]
    while folders:
        folder = folders.pop()
        with os.scandir(Path(root, folder)) as entries:
            for entry in entries:
                relative = f"{folder}/{entry.name}" if folder else entry.name
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    folders.append(relative)
                elif entry.is_file(follow_symlinks=False):
                    found.add(relative)
    return found


def resolve_inside(root: Path, relative: str, where: str, plain: set[str] | None = None) -> Path:
    """The plain file that ``relative`` (a POSIX path from a manifest) names inside ``root``.

    Refused with :class:`UnsafePathError`: absolute paths (POSIX or Windows), backslashes, NUL
    characters, ``..`` components, and paths that pass through a symbolic link (which could lead
    anywhere on the reader's machine); with :class:`StudyPackageError`: missing files. ``plain``
    is :func:`plain_files` of ``root``, computed once when checking many paths.
    """
    if "\\" in relative or "\x00" in relative:
        raise UnsafePathError(f"{where}: path {relative!r} must use '/' separators and no NUL characters")
    if relative.startswith("/") or _WINDOWS_DRIVE_RE.match(relative):
        raise UnsafePathError(f"{where}: {relative!r} is an absolute path; package paths are relative to the package")
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"{where}: {relative!r} goes up out of the package ('..')")
    # String operations, not pathlib: opening a package checks thousands of paths.
    if "/".join(parts) in (plain_files(root) if plain is None else plain):
        return Path(root, *parts)
    pure = PurePosixPath(*parts)
    base = Path(root).resolve()
    target = (base / pure).resolve()
    if not target.is_relative_to(base):
        raise UnsafePathError(f"{where}: {relative!r} leads to {target}, outside the package {base}")
    if target != base / pure:
        raise UnsafePathError(f"{where}: {relative!r} passes through a symbolic link; packages hold plain files")
    if target.exists():
        raise StudyPackageError(f"{where}: {relative!r} is not a plain file of the package")
    raise StudyPackageError(f"{where}: {relative} is missing from the package")


# --- manifest validation ---------------------------------------------------------------------


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def _object(value: object, where: str, keys: set[str]) -> dict:
    """``value`` as a dict with exactly ``keys`` (unknown keys could carry provenance: refused)."""
    if not isinstance(value, dict):
        raise StudyPackageError(f"{where}: expected an object, got {_json_type(value)}")
    missing, unknown = sorted(keys - value.keys()), sorted(value.keys() - keys)
    if missing:
        raise StudyPackageError(f"{where}: missing field(s) {', '.join(missing)}")
    if unknown:
        raise StudyPackageError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return value


def _string(value: object, where: str, pattern: re.Pattern | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise StudyPackageError(f"{where}: expected a non-empty string, got {_json_type(value)}")
    if pattern is not None and not pattern.match(value):
        raise StudyPackageError(f"{where}: {value!r} does not match {pattern.pattern}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StudyPackageError(f"{where}: expected a number, got {_json_type(value)}")
    return float(value)


def _list(value: object, where: str, *, min_items: int = 0) -> list:
    if not isinstance(value, list):
        raise StudyPackageError(f"{where}: expected an array, got {_json_type(value)}")
    if len(value) < min_items:
        raise StudyPackageError(f"{where}: expected at least {min_items} item(s), got {len(value)}")
    return value


def _unique(items: list[str], where: str) -> tuple[str, ...]:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise StudyPackageError(f"{where}: {item!r} appears twice")
        seen.add(item)
    return tuple(items)


def parse_manifest(data: object, source: str) -> Manifest:
    """Check a decoded manifest against the schema (format version 1) and return it.

    Raises :class:`StudyPackageError` naming ``source`` and the offending field.
    """
    if not isinstance(data, dict):
        raise StudyPackageError(f"{source}: expected a JSON object, got {_json_type(data)}")
    if data.get("format") != FORMAT:
        raise StudyPackageError(
            f"{source}: not a SynthPathology study package manifest (format {data.get('format')!r})"
        )
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise StudyPackageError(f"{source}: version: expected a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise StudyPackageError(
            f"{source}: package format version {version} is newer than this SynthPathology reads "
            f"({FORMAT_VERSION}); update SynthPathology"
        )
    _object(data, source, {"format", "version", "package_id", "pathology", "contrasts", "image",
                           "settings", "readers", "cases"})
    contrasts = _unique([_string(c, f"{source}: contrasts[{i}]", _CONTRAST_RE)
                         for i, c in enumerate(_list(data["contrasts"], f"{source}: contrasts", min_items=1))],
                        f"{source}: contrasts")
    image = _object(data["image"], f"{source}: image", {"format", "dtype", "intensity_range"})
    if image["format"] != "nifti1":
        raise StudyPackageError(f"{source}: image.format: expected 'nifti1', got {image['format']!r}")
    bounds = _list(image["intensity_range"], f"{source}: image.intensity_range", min_items=2)
    if len(bounds) != 2:
        raise StudyPackageError(f"{source}: image.intensity_range: expected [low, high]")
    settings = _object(data["settings"], f"{source}: settings", {"allow_back", "time_limit_s"})
    if not isinstance(settings["allow_back"], bool):
        raise StudyPackageError(f"{source}: settings.allow_back: expected true/false")
    limit = settings["time_limit_s"]
    if limit is not None and _number(limit, f"{source}: settings.time_limit_s") <= 0:
        raise StudyPackageError(f"{source}: settings.time_limit_s: expected a positive number or null")
    readers = _unique([_string(r, f"{source}: readers[{i}]", READER_ID_RE)
                       for i, r in enumerate(_list(data["readers"], f"{source}: readers"))], f"{source}: readers")
    cases = []
    for i, entry in enumerate(_list(data["cases"], f"{source}: cases", min_items=1)):
        where = f"{source}: cases[{i}]"
        entry = _object(entry, where, {"id", "files"})
        files = _object(entry["files"], f"{where}.files", set(contrasts))
        cases.append(CaseEntry(
            _string(entry["id"], f"{where}.id", CASE_ID_RE),
            {c: _string(files[c], f"{where}.files.{c}") for c in contrasts},
        ))
    _unique([case.id for case in cases], f"{source}: case ids")
    return Manifest(
        package_id=_string(data["package_id"], f"{source}: package_id", _PACKAGE_ID_RE),
        pathology=_string(data["pathology"], f"{source}: pathology"),
        contrasts=contrasts,
        dtype=_string(image["dtype"], f"{source}: image.dtype"),
        intensity_range=(_number(bounds[0], f"{source}: image.intensity_range[0]"),
                         _number(bounds[1], f"{source}: image.intensity_range[1]")),
        settings=Settings(settings["allow_back"], None if limit is None else float(limit)),
        readers=readers,
        cases=tuple(cases),
    )


# --- packages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyPackage:
    """An opened study package: its folder and checked manifest, with every case file resolved, and
    the organizer's study secret when given (reader journals are then keyed with it)."""

    root: Path
    manifest: Manifest
    _files: dict[str, dict[str, Path]] = field(repr=False)
    secret: bytes | None = field(default=None, repr=False)

    @property
    def readers_dir(self) -> Path:
        return self.root / READERS_DIR

    def case_files(self, case_id: str) -> dict[str, Path]:
        """Contrast -> absolute path of a case's images."""
        try:
            return dict(self._files[case_id])
        except KeyError:
            raise SessionError(f"{self.root}: no case {case_id!r} in this study package") from None

    def check_reader(self, reader: str) -> str:
        """Return ``reader`` if it is a valid id and, when the study lists its readers, one of them."""
        validate_reader_id(reader)
        if self.manifest.readers and reader not in self.manifest.readers:
            raise SessionError(
                f"reader {reader!r} is not a reader of this study ({', '.join(self.manifest.readers)})"
            )
        return reader


def open_package(path: str | os.PathLike, secret: bytes | None = None) -> StudyPackage:
    """Open a study package folder, checking its manifest and that every listed file is safe and
    present; ``secret``: the organizer's study secret (see :mod:`.journal_format`).

    Raises :class:`StudyPackageError` (or :class:`UnsafePathError`) naming the problem.
    """
    root = Path(path)
    manifest_path = root / MANIFEST_NAME
    if not root.is_dir():
        raise StudyPackageError(f"{root}: no such study package folder")
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise StudyPackageError(f"{root}: not a study package (no {MANIFEST_NAME})")
    try:
        data = json.loads(manifest_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudyPackageError(f"{manifest_path}: not valid JSON ({exc})") from None
    manifest = parse_manifest(data, str(manifest_path))
    plain = plain_files(root)
    files = {
        case.id: {contrast: resolve_inside(root, relative, f"{manifest_path}: case {case.id} {contrast}", plain)
                  for contrast, relative in case.files.items()}
        for case in manifest.cases
    }
    return StudyPackage(root, manifest, files, secret)


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` into ``root`` atomically, checking it first."""
    data = manifest.to_json()
    parse_manifest(data, f"{root / MANIFEST_NAME} (being written)")
    path = Path(root) / MANIFEST_NAME
    write_study_document(path, data)
    return path
