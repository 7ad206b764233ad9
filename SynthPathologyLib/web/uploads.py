"""Files the browser sends: size limits, safe names, the app's confined data folder, and reading an
uploaded BraTS case.

Only single-file NIfTI is accepted: a MetaImage or NRRD header may name a detached data file
anywhere on the server (``ElementDataFile: /etc/passwd``), which ITK would read. Each file's header
is read from its first bytes (decompressing only those) and its declared image size (dimensions x
bytes per voxel) checked against a limit before any image is decoded, so a small ``.nii.gz`` cannot
make the server allocate gigabytes. :class:`UploadReceiver` counts the bytes of an upload as its
groups of files arrive.

Nothing here imports trame: uploads arrive as the dictionaries trame makes of browser ``File``
objects (``name``, ``size``, ``content`` as bytes or a list of byte chunks).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.case import Case
from ..core.errors import SynthPathologyError
from ..core.image_io import image_suffix
from ..io.brats import detect_naming, read_brats_case

UPLOAD_SUFFIXES = (".nii.gz", ".nii")
"""The image formats accepted from the browser: single-file NIfTI (formats whose header can name a
separate data file, MetaImage and NRRD, are not)."""

_NIFTI_MAGIC = {348: b"n+1", 540: b"n+2"}  # header size -> single-file magic (NIfTI-1, NIfTI-2)
_GZIP_MAGIC = b"\x1f\x8b"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class UploadError(SynthPathologyError):
    """An upload is refused: too large, too many files, a bad name or not a readable image."""


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold: ``max_files`` files of at most ``max_file_mb`` MB (10^6 bytes)
    each, each decoding to at most ``max_decoded_mb`` MB. A BraTS case is 4 contrasts + a
    segmentation, 2-10 MB per compressed 1 mm file, 9-36 MB decoded (240 x 240 x 155 voxels)."""

    max_file_mb: float = 64.0
    max_files: int = 6
    max_decoded_mb: float = 512.0

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1e6)

    @property
    def max_decoded_bytes(self) -> int:
        return int(self.max_decoded_mb * 1e6)


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


def nifti_decoded_bytes(content: bytes, name: str) -> int:
    """Bytes the image in ``content`` (a whole .nii or .nii.gz file) decodes to, from its header
    alone: dimensions x bytes per voxel.

    Raises:
        UploadError: not a single-file NIfTI-1 or NIfTI-2 image (or a damaged header).
    """
    import nibabel

    head = content[:540]
    if content[:2] == _GZIP_MAGIC:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(content, 540)
        except zlib.error:
            raise UploadError(f"{name}: not a readable gzip file") from None
    sizes = {int.from_bytes(head[:4], order) for order in ("little", "big")} & set(_NIFTI_MAGIC)
    if not sizes:
        raise UploadError(f"{name}: not a NIfTI image (only single-file NIfTI .nii/.nii.gz is accepted)")
    header_class = nibabel.Nifti1Header if sizes == {348} else nibabel.Nifti2Header
    try:
        header = header_class.from_fileobj(io.BytesIO(head), check=False)
        magic = bytes(header["magic"]).rstrip(b"\x00")
        shape, itemsize = header.get_data_shape(), header.get_data_dtype().itemsize
    except Exception as exc:  # nibabel raises several types for damaged headers
        raise UploadError(f"{name}: damaged NIfTI header ({type(exc).__name__})") from None
    if magic != _NIFTI_MAGIC[header.sizeof_hdr]:
        raise UploadError(f"{name}: a NIfTI header with a separate data file; upload single-file .nii/.nii.gz")
    if any(int(n) < 0 for n in shape):
        raise UploadError(f"{name}: negative image dimensions {shape}")
    return int(np.prod([int(n) for n in shape], dtype=object)) * int(itemsize)


def check_decoded_size(content: bytes, name: str, limits: UploadLimits) -> None:
    """Refuse a file whose header declares an image larger than ``limits.max_decoded_mb``."""
    decoded = nifti_decoded_bytes(content, name)
    if decoded > limits.max_decoded_bytes:
        raise UploadError(f"{name}: its header declares a {decoded / 1e6:.0f} MB image, over the "
                          f"{limits.max_decoded_mb:g} MB limit of decoded images")


def store_upload(uploads: Iterable[Mapping], data: DataFolder, limits: UploadLimits) -> Path:
    """Write checked uploaded files into a new folder under ``data`` and return it.

    Raises:
        UploadError: see :func:`check_upload`; also when the received content exceeds the limit
            (the announced size is the client's word only), is not single-file NIfTI, declares an
            image over the decoded-size limit, or two files share a name.
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
            check_decoded_size(content, name, limits)
            path = folder / name
            if path.exists():
                raise UploadError(f"{name}: uploaded twice")
            path.write_bytes(content)
    except BaseException:
        data.remove(folder)
        raise
    return folder


def read_uploaded_case(folder: Path) -> Case:
    """Read an uploaded folder as a BraTS case (named after its files' common prefix), with the
    contrasts it holds (whether the model can use them is the synthesizer's call).

    Raises:
        UploadError: the files are not a BraTS case or not readable images; the message names
            the uploaded file, not the server's folder.
    """
    try:
        case = read_brats_case(folder, contrasts=())
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


@dataclass
class UploadReceiver:
    """The files of the upload in progress, counted against the limits as each group arrives.

    The page announces names and sizes first (:meth:`start`), then sends groups of whole files
    (:meth:`add`) and an empty group at the end (:meth:`finish`). A file not announced, sent twice,
    or more bytes than the limits allow refuse the whole upload at once and drop what was held.
    """

    limits: UploadLimits
    active: bool = False  # an upload was announced and has not ended
    _announced: set[str] = field(default_factory=set)  # names still expected
    _files: list[dict] = field(default_factory=list)
    _bytes: int = 0

    def start(self, announced: list[Mapping]) -> None:
        """Check the announced names and sizes; forget any earlier upload."""
        self.drop()
        if not isinstance(announced, list) or not all(isinstance(item, Mapping) for item in announced):
            raise UploadError("the page announced no files")
        check_upload(announced, self.limits)
        self._announced = {safe_file_name(item.get("name", "")) for item in announced}
        self.active = True

    def add(self, files: list[Mapping]) -> None:
        try:
            if not self.active:
                raise UploadError("files arrived without an announced upload; choose the files again")
            for upload in files:
                name = safe_file_name(upload.get("name", "") if isinstance(upload, Mapping) else "")
                if name not in self._announced:
                    raise UploadError(f"{name}: not among the announced files, or sent twice")
                self._announced.discard(name)
                size = len(file_bytes(upload))
                if size > self.limits.max_file_bytes:
                    raise UploadError(f"{name}: larger than the {self.limits.max_file_mb:g} MB limit")
                self._bytes += size
                self._files.append(upload)
        except BaseException:
            self.drop()
            raise

    def finish(self) -> list[dict]:
        """The files received (the upload is over)."""
        files = self._files
        self.drop()
        if not files:
            raise UploadError("the upload ended before any file arrived")
        return files

    def drop(self) -> None:
        """Forget the upload in progress (abandoned or refused)."""
        self.active, self._announced, self._files, self._bytes = False, set(), [], 0
