"""Audit of a study package's blinding: can anything but the image content tell real from synthetic?

Everything a reader can see besides the voxels is collected per case as "visible properties":
file names (with the case id masked), sizes, compression, every NIfTI header field, its byte order
and the header extension bytes, and each file's and case folder's file-system properties: mode,
modification time, owner, link count (a hard link), allocated blocks (a sparse file) and extended
attributes (names and values), and each folder's entries. Inode numbers and change times are not
compared: every file has its own, and the package is written in case-id order so that they follow
the random ids.
A correctly built package shows one value per property for all cases; any property with several
values is a leak, because a reader could sort cases by it. Files the manifest does not list, a
manifest case order other than by id, and symbolic links are leaks too.

With the answer key, the audit also says how each leak relates to the truth (a property whose
real and synthetic values do not overlap tells them apart perfectly) and searches the manifest,
the file names and the headers for the names of the source cases.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .answer_key import AnswerKey, load_key
from .journal import JOURNAL_SUFFIX
from .journal_format import HEAD_SUFFIX
from .study_package import CASES_DIR, MANIFEST_NAME, READER_ID_RE, READERS_DIR, StudyPackage, open_package

_NIFTI1_HEADER_BYTES = 348
_GZIP_MAGIC = b"\x1f\x8b"
_ID_MASK = "<id>"


@dataclass(frozen=True)
class Leak:
    """One way a reader could tell cases apart without looking at the images."""

    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


@dataclass(frozen=True)
class AuditReport:
    """Outcome of :func:`audit_package`: the leaks found (none: the package is blind)."""

    package: Path
    n_cases: int
    n_properties: int
    used_key: bool
    leaks: tuple[Leak, ...]

    @property
    def ok(self) -> bool:
        return not self.leaks


def _header_properties(path: Path, prefix: str) -> tuple[dict[str, str], bytes]:
    """Visible header properties of a NIfTI file and its raw header bytes (decompressed)."""
    import nibabel

    with open(path, "rb") as stream:
        compressed = stream.read(2) == _GZIP_MAGIC
    opener = gzip.open if compressed else open
    props = {f"{prefix}: compression": "gzip" if compressed else "none"}
    try:
        with opener(path, "rb") as stream:
            header = nibabel.Nifti1Header.from_fileobj(stream, check=False)
            stream.seek(0)
            vox_offset = max(int(header["vox_offset"]), _NIFTI1_HEADER_BYTES)
            raw = stream.read(vox_offset)
    except Exception as exc:  # nibabel and gzip raise many types for files that are not NIfTI
        props[f"{prefix}: header"] = f"unreadable ({type(exc).__name__})"
        return props, b""
    props[f"{prefix}: header byte order"] = "big-endian" if header.endianness == ">" else "little-endian"
    for name in header.keys():
        value = header[name]
        props[f"{prefix}: header {name}"] = repr(value.tolist() if hasattr(value, "tolist") else value)
    props[f"{prefix}: header extension bytes"] = hashlib.sha256(raw[_NIFTI1_HEADER_BYTES:]).hexdigest()[:16]
    return props, raw


def _stat_properties(path: Path, prefix: str) -> dict[str, str]:
    info = os.lstat(path)
    return {
        f"{prefix}: mode": oct(info.st_mode),
        f"{prefix}: modification time": str(info.st_mtime_ns),
        f"{prefix}: owner": f"uid {info.st_uid}, gid {info.st_gid}",
        f"{prefix}: link count": str(info.st_nlink),
        f"{prefix}: allocated blocks": str(info.st_blocks),
        f"{prefix}: extended attributes": _extended_attributes(path),
    }


def _extended_attributes(path: Path) -> str:
    """Names and a digest of the values of a file's extended attributes (ACLs, labels, notes)."""
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
        values = b"\0".join(os.getxattr(path, name, follow_symlinks=False) for name in names)
    except (OSError, AttributeError):  # not supported by the file system or the platform
        return "unsupported"
    return f"{names} {hashlib.sha256(values).hexdigest()[:16]}" if names else "none"


def visible_properties(package: StudyPackage) -> tuple[dict[str, dict[str, str]], dict[str, bytes]]:
    """Case id -> {property: value} of everything a reader sees of the case except voxel values,
    and case id -> the raw bytes of its headers (for searching provenance)."""
    properties: dict[str, dict[str, str]] = {}
    headers: dict[str, bytes] = {}
    for case in package.manifest.cases:
        folder = package.root / CASES_DIR / case.id
        props = {"folder: entries": repr(sorted(p.name for p in folder.iterdir())),
                 **_stat_properties(folder, "folder")}
        raw_headers = []
        for contrast, relative in case.files.items():
            prefix = contrast
            path = package.case_files(case.id)[contrast]
            props[f"{prefix}: file name"] = relative.replace(case.id, _ID_MASK)
            props[f"{prefix}: file size"] = str(path.stat().st_size)
            props.update(_stat_properties(path, prefix))
            header_props, raw = _header_properties(path, prefix)
            props.update(header_props)
            raw_headers.append(raw)
        properties[case.id] = props
        headers[case.id] = b"".join(raw_headers)
    return properties, headers


def _unexpected_files(package: StudyPackage) -> list[Leak]:
    """Files and folders the manifest does not account for, and symbolic links."""
    allowed = {MANIFEST_NAME, CASES_DIR, READERS_DIR}
    for case in package.manifest.cases:
        allowed.add(f"{CASES_DIR}/{case.id}")
        allowed.update(case.files.values())
    leaks = []
    for folder, dirs, files in os.walk(package.root):
        for name in sorted(dirs + files):
            path = Path(folder, name)
            relative = path.relative_to(package.root).as_posix()
            if path.is_symlink():
                leaks.append(Leak(relative, "is a symbolic link; a package holds plain files"))
            elif relative.startswith(f"{READERS_DIR}/"):
                if path.is_dir() or not _is_journal_file(name):
                    leaks.append(Leak(relative, "unexpected file among the reader journals"))
            elif relative not in allowed:
                leaks.append(Leak(relative, "not part of the package (readers could see it)"))
        # Descend only into expected folders: an unexpected one is reported once, above.
        dirs[:] = [d for d in dirs if Path(folder, d).relative_to(package.root).as_posix() in allowed]
    return leaks


def _is_journal_file(name: str) -> bool:
    for suffix in (JOURNAL_SUFFIX, f"{JOURNAL_SUFFIX}.torn", ".lock", HEAD_SUFFIX):
        if name.endswith(suffix) and READER_ID_RE.match(name[: -len(suffix)]):
            return True
    return False


def _spread(values: dict[str, str]) -> str:
    """Each value with how many cases show it (naming them when few), most common first."""
    by_value: dict[str, list[str]] = defaultdict(list)
    for case, value in values.items():
        by_value[value].append(case)
    parts = []
    for value, cases in sorted(by_value.items(), key=lambda item: -len(item[1])):
        shown = value if len(value) <= 100 else f"{value[:50]}...{value[-47:]}"
        named = f": {', '.join(sorted(cases))}" if len(cases) <= 3 else ""
        parts.append(f"{shown} ({len(cases)} case{'s' if len(cases) > 1 else ''}{named})")
    return ", ".join(parts)


def _describe_values(values: dict[str, str], key: AnswerKey | None) -> str:
    """How a property's values spread over cases, and with ``key`` over real and synthetic."""
    if key is None:
        return f"differs between cases: {_spread(values)}"
    per_truth = {truth: {c: v for c, v in values.items() if key.truth[c] == truth} for truth in ("real", "synthetic")}
    verdict = ("tells real from synthetic perfectly"
               if set(per_truth["real"].values()).isdisjoint(per_truth["synthetic"].values())
               else "differs between cases")
    return f"{verdict}: real {_spread(per_truth['real'])}; synthetic {_spread(per_truth['synthetic'])}"


def _provenance_leaks(package: StudyPackage, headers: dict[str, bytes], key: AnswerKey) -> list[Leak]:
    """Source case names (from the key) found in the manifest, file paths or headers."""
    manifest_text = (package.root / MANIFEST_NAME).read_bytes()
    paths = "\n".join(p for case in package.manifest.cases for p in case.files.values()).encode()
    visible = {"manifest.json": manifest_text, "file names": paths,
               **{f"case {c} headers": h for c, h in headers.items()}}
    leaks = []
    for case, source in sorted(key.sources.items()):
        name = Path(source).name
        if len(name) < 4:
            continue  # too short to search for without false alarms
        for where, data in visible.items():
            if name.encode() in data:
                leaks.append(Leak(where, f"mentions source case {name!r} (the {key.truth[case]} source of {case})"))
    return leaks


def audit_package(package_path: str | os.PathLike, key_path: str | os.PathLike | None = None) -> AuditReport:
    """Look for every way besides image content to tell the package's real and synthetic cases apart."""
    package = open_package(package_path)
    key = None if key_path is None else load_key(key_path, package)
    leaks = _unexpected_files(package)
    ids = list(package.manifest.case_ids)
    if ids != sorted(ids):
        leaks.append(Leak("manifest.json", "cases are not listed in id order, so their order could follow the source"))
    properties, headers = visible_properties(package)
    names = sorted({name for props in properties.values() for name in props})
    for name in names:
        values = {case: props.get(name, "absent") for case, props in properties.items()}
        if len(set(values.values())) > 1:
            leaks.append(Leak(name, _describe_values(values, key)))
    if key is not None:
        leaks.extend(_provenance_leaks(package, headers, key))
    return AuditReport(package.root, len(ids), len(names), key is not None, tuple(leaks))
