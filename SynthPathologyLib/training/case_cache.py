"""The on-disk cache of normalized training cases: each case is read and normalized once, written as
``.npy`` arrays cropped to its content, and then read a window at a time through memory maps, so a
training process never holds whole cases in memory, however many it trains on.

An entry is the folder ``<cache>/<case id>-<key>``; the key hashes the case files' paths, sizes and
modification times, the contrasts, the label requirement and the normalization
(:data:`CACHE_VERSION`), so a changed case gets a new entry (its old one is removed). An entry is
written under a temporary name and renamed when complete: no reader ever sees half of one.

A window holds exactly the values of normalizing the whole volume in memory (contrast / its
:func:`~SynthPathologyLib.networks.conditioning.intensity_scale`, float32): an image is stored in
its file's type when float32 holds that exactly (else as float32, what the normalization reads
anyway) and converted and divided when read; the crop is the box of the voxels non-zero in any
image or mask, and a window reaching past it is 0 there, as the volume is.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.case import Case
from ..core.durable import atomic_write_bytes, fsync_directory, read_json
from ..core.errors import CaseError
from ..core.image_io import read_image, require_same_grid
from ..core.voxel_box import EMPTY_BOX, bounding_box, on_box
from ..io.brats import read_brats_case
from ..networks.conditioning import NORMALIZATION_PERCENTILE, intensity_scale

CACHE_VERSION = 1  # bump when what an entry holds or how it is normalized changes: older entries are rebuilt
# Binary masks of non-healthy tissue that are not labels of the pathology (BraTS-style file name).
LESION_MASK_SUFFIX = "-lesion"
HEALTHY_GRID = 4  # healthy patch centres lie on every 4th voxel of each axis
PARTIAL_PREFIX = ".partial-"
STALE_PARTIAL_S = 3600.0  # a temporary entry this old is the leftover of a killed build (one takes seconds)
META = "case.json"


@dataclass(frozen=True)
class CachedCase:
    """A normalized training case of the cache, read a window at a time.

    ``shape``: (z, y, x) voxels of the whole volume; ``crop``: the stored box of it (z, y, x
    slices); ``spacing``: (x, y, z) mm; ``scales``: each contrast's normalization divisor, in
    channel order; ``entry``: the cache folder. Only these few values live in memory.
    """

    entry: Path
    case_id: str
    shape: tuple[int, int, int]
    crop: tuple[slice, slice, slice]
    spacing: tuple[float, float, float]
    scales: tuple[float, ...]

    def image(self, box: tuple[slice, ...]) -> np.ndarray:
        """The normalized contrasts in ``box`` (z, y, x slices of the volume): (C, z, y, x) float32."""
        return np.stack([self.window(f"image{c}", box).astype(np.float32) / scale
                         for c, scale in enumerate(self.scales)])

    def window(self, name: str, box: tuple[slice, ...]) -> np.ndarray:
        """Array ``name`` ("label": label values, "brain" or "avoid": bool; "image<c>": contrast c
        as stored) in ``box``: (z, y, x), 0 outside the crop."""
        return on_box(self.array(name), self.crop, box)

    def array(self, name: str) -> np.ndarray:
        """Stored array ``name``, memory-mapped read-only: a cropped one of :meth:`window`,
        "lesion_voxels" (int64 flat C-order indices of the volume's lesion voxels) or
        "healthy_centers" ((n, 3) int64 z, y, x voxels of the volume on the :data:`HEALTHY_GRID`,
        in the brain and clear of avoided tissue)."""
        # A map per read: dropped with the array, so the pages a process has read never add up
        # in its memory (they stay in the system's reclaimable file cache).
        return np.load(self.entry / f"{name}.npy", mmap_mode="r")


def cached_case(folder: Path, contrasts: Sequence[str], cache: Path, require_label: bool = True) -> CachedCase:
    """The cache entry of the BraTS case ``folder``, built first when ``cache`` lacks it.

    Args:
        contrasts: contrasts the case must hold, in channel order.
        require_label: refuse a case without segmentation (else its label is empty).

    Raises the case's own errors (a missing label or contrast, a mask on another grid).
    """
    folder = Path(folder).resolve()
    entry = Path(cache) / f"{folder.name}-{entry_key(folder, contrasts, require_label)}"
    if not entry.is_dir():
        _build(folder, contrasts, require_label, entry)
        _remove_older_entries(entry, folder)
    meta = read_json(entry / META, CaseError)
    return CachedCase(entry, meta["case_id"], tuple(meta["shape"]), tuple(slice(*s) for s in meta["crop"]),
                      tuple(meta["spacing"]), tuple(meta["scales"]))


def entry_key(folder: Path, contrasts: Sequence[str], require_label: bool) -> str:
    """16 hex digits naming what an entry is built from: the case folder's files (name, size,
    modification time), the contrasts, the label requirement and the normalization."""
    stats = {p.name: p.stat() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    files = [(name, stat.st_size, stat.st_mtime_ns) for name, stat in stats.items()]
    material = {"version": CACHE_VERSION, "percentile": NORMALIZATION_PERCENTILE, "folder": str(folder),
                "files": files, "contrasts": list(contrasts), "require_label": require_label}
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()[:16]


def remove_stale_partials(cache: Path) -> None:
    """Remove the temporary entries that builds killed mid-write left in ``cache`` (those of
    running builds are younger than :data:`STALE_PARTIAL_S`)."""
    now = time.time()
    for partial in Path(cache).glob(f"{PARTIAL_PREFIX}*"):
        try:
            stale = now - partial.stat().st_mtime > STALE_PARTIAL_S
        except FileNotFoundError:  # published meanwhile by its build
            continue
        if stale:
            shutil.rmtree(partial, ignore_errors=True)


def _build(folder: Path, contrasts: Sequence[str], require_label: bool, entry: Path) -> None:
    """Write ``entry`` under a temporary name, then rename it: it is complete or absent."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    partial = entry.parent / f"{PARTIAL_PREFIX}{entry.name}-{secrets.token_hex(4)}"
    partial.mkdir()
    try:
        arrays, meta = _normalized_case(folder, contrasts, require_label)
        for name, array in arrays.items():
            _save(partial / f"{name}.npy", array)
        atomic_write_bytes(partial / META, json.dumps(meta).encode())
        try:
            partial.rename(entry)
        except OSError:
            if not entry.is_dir():  # else another process (a DDP rank) published the same entry first
                raise
        fsync_directory(entry.parent)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _normalized_case(folder: Path, contrasts: Sequence[str],
                     require_label: bool) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of an entry (cropped) and its ``case.json`` (see :class:`CachedCase`)."""
    case = read_brats_case(folder, contrasts=tuple(contrasts), require_label=require_label)
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    images = [sitk.GetArrayFromImage(case.images[c]) for c in contrasts]
    scales = [intensity_scale(image.astype(np.float32), brain) for image in images]
    label = sitk.GetArrayFromImage(case.label) if case.label is not None else np.zeros(brain.shape, np.uint8)
    avoid = _avoided(case, folder, label)
    content = brain | avoid | np.any([image != 0 for image in images], axis=0)
    crop = bounding_box(content) if content.any() else EMPTY_BOX
    arrays = {f"image{c}": (image if np.can_cast(image.dtype, np.float32) else image.astype(np.float32))[crop]
              for c, image in enumerate(images)}
    arrays |= {"label": label[crop], "brain": brain[crop], "avoid": avoid[crop],
               "lesion_voxels": np.flatnonzero(label),
               "healthy_centers": np.argwhere((brain & ~avoid)[::HEALTHY_GRID, ::HEALTHY_GRID, ::HEALTHY_GRID])
               * HEALTHY_GRID}
    meta = {"case_id": case.case_id, "folder": str(folder), "shape": list(brain.shape),
            "crop": [[int(s.start), int(s.stop)] for s in crop], "spacing": list(case.reference.GetSpacing()),
            "scales": scales}
    return arrays, meta


def _avoided(case: Case, folder: Path, label: np.ndarray) -> np.ndarray:
    """Tissue that is not healthy (z, y, x bool): the label's lesion and the case's ``-lesion`` mask, if any."""
    avoid = label > 0
    for path in sorted(folder.glob(f"{folder.name}{LESION_MASK_SUFFIX}.nii*")):
        mask = read_image(path)
        require_same_grid(mask, case.reference, path.name, f"case {case.case_id}")
        avoid |= sitk.GetArrayFromImage(mask) > 0
    return avoid


def _save(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` and flush it to disk (the entry is renamed into place next)."""
    with open(path, "xb") as stream:
        np.save(stream, array)
        stream.flush()
        os.fsync(stream.fileno())


def _remove_older_entries(entry: Path, folder: Path) -> None:
    """Remove the entries of ``folder`` other than ``entry`` (built from older files)."""
    for other in entry.parent.glob(f"{folder.name}-*"):
        meta = other / META
        if other != entry and meta.is_file() and read_json(meta, CaseError).get("folder") == str(folder):
            shutil.rmtree(other, ignore_errors=True)
