"""Files the browser sends: size limits, safe names, the app's confined data folder, and reading an
uploaded BraTS case.

Nothing here imports trame: uploads arrive as the dictionaries trame makes of browser ``File``
objects (``name``, ``size``, ``content`` as bytes or a list of byte chunks).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.case import Case
from ..core.errors import SynthPathologyError
from ..core.image_io import image_suffix
from ..io.brats import detect_naming, read_brats_case

UPLOAD_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
"""Single-file image formats accepted from the browser (header + data files like .mhd/.raw and
DICOM folders are not: one upload, one file)."""

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class UploadError(SynthPathologyError):
    """An upload is refused: too large, too many files, a bad name or not a readable image."""


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold: ``max_files`` files of at most ``max_file_mb`` MB (10^6 bytes)
    each. A BraTS case is 4 contrasts + a segmentation, 2-10 MB per compressed 1 mm file."""

    max_file_mb: float = 64.0
    max_files: int = 6

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1e6)


class DataFolder:
    """The one folder the app reads and writes for the browser: uploads and downloads live in
    fresh sub-folders of it, and every path is checked to resolve inside it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def new_folder(self, kind: str) -> Path:
        """A new empty folder ``<root>/<kind>/<random>`` (kind: "uploads", "downloads")."""
        parent = self.inside(kind)
        parent.mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(dir=parent))

    def inside(self, relative: str | os.PathLike) -> Path:
        """``root / relative``, refused when it would resolve outside the data folder."""
        path = (self.root / relative).resolve()
        if path != self.root and self.root not in path.parents:
            raise UploadError(f"{relative}: outside the app's data folder")
        return path

    def remove(self, folder: Path) -> None:
        """Delete a folder made by :meth:`new_folder` (never anything outside the data folder)."""
        shutil.rmtree(self.inside(folder.relative_to(self.root)), ignore_errors=True)


def safe_file_name(name: str) -> str:
    """The browser's file name reduced to its last component, checked: letters, digits, ``._-``
    and an accepted image suffix. Folder parts ("../", "C:\\") are dropped, never followed."""
    base = re.split(r"[\\/]", str(name))[-1]
    if not _SAFE_NAME.match(base):
        raise UploadError(f"{base!r}: file names may hold only letters, digits, '.', '_' and '-'")
    if not base.lower().endswith(UPLOAD_SUFFIXES):
        raise UploadError(f"{base}: not an image file (expected {', '.join(UPLOAD_SUFFIXES)})")
    return base


def file_bytes(upload: Mapping) -> bytes:
    """The content of one uploaded file (trame sends large files as a list of chunks)."""
    content = upload.get("content")
    if isinstance(content, (list, tuple)):
        content = b"".join(content)
    if not isinstance(content, (bytes, bytearray)):
        raise UploadError(f"{upload.get('name', 'upload')}: no file content received")
    return bytes(content)


def check_upload(uploads: Iterable[Mapping], limits: UploadLimits) -> None:
    """Refuse an upload from its announced names and sizes, before any content is stored."""
    uploads = list(uploads)
    if not uploads:
        raise UploadError("no file selected")
    if len(uploads) > limits.max_files:
        raise UploadError(f"{len(uploads)} files: upload at most {limits.max_files} (one BraTS case)")
    for upload in uploads:
        name = safe_file_name(upload.get("name", ""))
        if int(upload.get("size") or 0) > limits.max_file_bytes:
            raise UploadError(f"{name}: larger than the {limits.max_file_mb:g} MB limit")


def store_upload(uploads: Iterable[Mapping], data: DataFolder, limits: UploadLimits) -> Path:
    """Write checked uploaded files into a new folder under ``data`` and return it.

    Raises:
        UploadError: see :func:`check_upload`; also when the received content exceeds the limit
            (the announced size is the client's word only) or two files share a name.
    """
    uploads = list(uploads)
    check_upload(uploads, limits)
    folder = data.new_folder("uploads")
    try:
        for upload in uploads:
            name = safe_file_name(upload["name"])
            content = file_bytes(upload)
            if len(content) > limits.max_file_bytes:
                raise UploadError(f"{name}: larger than the {limits.max_file_mb:g} MB limit")
            path = folder / name
            if path.exists():
                raise UploadError(f"{name}: uploaded twice")
            path.write_bytes(content)
    except BaseException:
        data.remove(folder)
        raise
    return folder


def read_uploaded_case(folder: Path, contrasts: tuple[str, ...]) -> Case:
    """Read an uploaded folder as a BraTS case (named after its files' common prefix).

    Raises:
        UploadError: the files are not a BraTS case or not readable images; the message names
            the uploaded file, not the server's folder.
    """
    try:
        case = read_brats_case(folder, contrasts=contrasts)
    except SynthPathologyError as exc:
        message = str(exc).replace(f"{folder}{os.sep}", "").replace(str(folder), "upload")
        raise UploadError(message) from None
    case.case_id = _case_id(folder)
    return case


def _case_id(folder: Path) -> str:
    """The case id the BraTS file names carry, e.g. "BraTS-GLI-00001-000" of
    "BraTS-GLI-00001-000-t1n.nii.gz"."""
    naming = detect_naming(folder)
    first = min(p.name for p in folder.iterdir())
    head, sep, _ = first[: -len(image_suffix(first) or "")].rpartition(naming.separator)
    return head if sep and head else "Uploaded"
