"""BraTS-layout case folders and datasets, in the 2021 and 2023 naming conventions.

A case folder ``<id>/`` holds one NIfTI file per contrast and the segmentation:

========  ==========================  ===========================
contrast  BraTS 2021 (``_`` suffix)   BraTS 2023 (``-`` suffix)
========  ==========================  ===========================
t1        ``<id>_t1.nii.gz``          ``<id>-t1n.nii.gz``
t1c       ``<id>_t1ce.nii.gz``        ``<id>-t1c.nii.gz``
t2        ``<id>_t2.nii.gz``          ``<id>-t2w.nii.gz``
flair     ``<id>_flair.nii.gz``       ``<id>-t2f.nii.gz``
label     ``<id>_seg.nii.gz``         ``<id>-seg.nii.gz``
========  ==========================  ===========================

Segmentations use 1 NCR, 2 ED and, for enhancing tumor, 4 in 2021 files and 3 in 2023 files;
in memory the library always uses 3 (see :mod:`SynthPathologyLib.pathologies`). A dataset is a
folder of case folders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.case import Case
from ..core.errors import CaseError
from ..core.image_io import image_suffix, read_image, resample_like, write_image
from ..core.labels import unknown_label_values


@dataclass(frozen=True)
class BratsNaming:
    """One BraTS file-naming convention.

    ``label_values`` maps values as stored in files to the library's internal label values.
    """

    name: str
    separator: str
    suffixes: dict[str, str]
    label_suffix: str
    label_values: dict[int, int]

    def file_name(self, case_id: str, key: str) -> str:
        """File name of ``key`` (a contrast or "label") for case ``case_id``."""
        suffix = self.label_suffix if key == "label" else self.suffixes[key]
        return f"{case_id}{self.separator}{suffix}.nii.gz"

    def to_internal(self, label: sitk.Image, source: str) -> sitk.Image:
        """Translate a segmentation from file values to internal values, refusing unknown values."""
        array = sitk.GetArrayFromImage(label)
        unknown = unknown_label_values(label, self.label_values)
        if unknown:
            raise CaseError(
                f"{source}: label values {unknown} are not BraTS {self.name} labels "
                f"(expected 0, {', '.join(map(str, sorted(self.label_values)))})"
            )
        return _relabel(label, array, self.label_values)

    def to_file(self, label: sitk.Image) -> sitk.Image:
        inverse = {internal: stored for stored, internal in self.label_values.items()}
        return _relabel(label, sitk.GetArrayFromImage(label), inverse)


def _relabel(label: sitk.Image, array: np.ndarray, mapping: dict[int, int]) -> sitk.Image:
    out = np.zeros(array.shape, np.uint8)
    for old, new in mapping.items():
        out[array == old] = new
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(label)
    return image


NAMINGS = {
    "2021": BratsNaming(
        "2021", "_", {"t1": "t1", "t1c": "t1ce", "t2": "t2", "flair": "flair"}, "seg", {1: 1, 2: 2, 4: 3}
    ),
    "2023": BratsNaming(
        "2023", "-", {"t1": "t1n", "t1c": "t1c", "t2": "t2w", "flair": "t2f"}, "seg", {1: 1, 2: 2, 3: 3}
    ),
}

# Contrast names seen in file and node names, BraTS 2021 and 2023 suffixes included.
_CONTRAST_WORDS = {
    "t1": "t1", "t1n": "t1", "t1w": "t1", "t1native": "t1",
    "t1c": "t1c", "t1ce": "t1c", "t1gd": "t1c", "t1post": "t1c",
    "t2": "t2", "t2w": "t2",
    "flair": "flair", "t2f": "flair", "t2flair": "flair",
}


def contrast_from_name(name: str) -> str | None:
    """The contrast a volume's name says ("BraTS-GLI-00001-000-t1c" -> "t1c", "Patient FLAIR" ->
    "flair", "T1 Gd" -> "t1c"), or None when it names none or several."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    joined = {a + b for a, b in zip(words, words[1:])}  # "t1 gd", "t2 flair"
    found = {_CONTRAST_WORDS[w] for w in joined if w in _CONTRAST_WORDS}
    if not found:
        found = {_CONTRAST_WORDS[w] for w in words if w in _CONTRAST_WORDS}
    return found.pop() if len(found) == 1 else None


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _files_by_key(folder: Path, naming: BratsNaming) -> dict[str, list[Path]]:
    """Image files of ``folder`` matched to contrasts / "label" by ``naming``'s suffixes."""
    keys = {**{s: k for k, s in naming.suffixes.items()}, naming.label_suffix: "label"}
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        suffix = image_suffix(path)
        if suffix is None or path.name.startswith("."):
            continue
        stem = path.name[: -len(suffix)]
        head, sep, tail = stem.rpartition(naming.separator)
        if sep and head and tail.lower() in keys:
            found.setdefault(keys[tail.lower()], []).append(path)
    return found


def detect_naming(folder: Path) -> BratsNaming | None:
    """The naming convention whose files ``folder`` holds most of, or None if it holds none."""
    counts = {name: len(_files_by_key(folder, naming)) for name, naming in NAMINGS.items()}
    best = max(counts, key=counts.get)
    return NAMINGS[best] if counts[best] else None


def is_brats_case(folder: Path) -> bool:
    return folder.is_dir() and detect_naming(folder) is not None


def read_brats_case(
    folder: str | Path,
    *,
    contrasts: tuple[str, ...] = ("t1", "t1c", "t2", "flair"),
    require_label: bool = False,
    resample: bool = False,
) -> Case:
    """Read a BraTS case folder (2021 or 2023 naming, detected from the file names).

    Args:
        folder: the case folder; its name is the case id.
        contrasts: contrasts that must be present (internal names); every contrast found is read,
            in the order t1, t1c, t2, flair, and the first is the reference grid.
        require_label: refuse a case without segmentation.
        resample: resample images on another grid onto the reference grid instead of refusing them.

    Raises:
        CaseError: no BraTS files, a missing contrast or label, two files for one contrast, or
            label values outside the convention.
        ImageFileError, GridMismatchError: from reading and checking the images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CaseError(f"{folder}: not a folder")
    naming = detect_naming(folder)
    if naming is None:
        cases = find_brats_cases(folder)
        if cases:
            raise CaseError(f"{folder}: a dataset of {len(cases)} case(s), not a case folder; give one of its "
                            f"cases (e.g. {cases[0]}) or a command that takes a dataset")
        examples = ", ".join(NAMINGS["2023"].file_name(folder.name, k) for k in ("t1", "label"))
        raise CaseError(f"{folder}: no BraTS image files found (expected names such as {examples})")
    found = _files_by_key(folder, naming)
    for key, paths in found.items():
        if len(paths) > 1:
            raise CaseError(f"{folder}: several files for {key}: {', '.join(p.name for p in paths)}")
    missing = [c for c in contrasts if c not in found]
    if require_label and "label" not in found:
        missing.append("label")
    if missing:
        expected = ", ".join(naming.file_name(folder.name, k) for k in missing)
        raise CaseError(f"{folder}: missing {', '.join(missing)} (expected {expected})")

    present = [c for c in naming.suffixes if c in found]
    if not present:
        raise CaseError(f"{folder}: no contrast images, only a segmentation")
    sources = {key: str(paths[0]) for key, paths in found.items()}
    images = {c: read_image(found[c][0]) for c in present}
    label = None
    if "label" in found:
        label = naming.to_internal(read_image(found["label"][0]), sources["label"])
    if resample:
        reference = images[present[0]]
        images = {c: resample_like(image, reference) for c, image in images.items()}
        if label is not None:
            label = resample_like(label, reference, is_label=True)
    return Case(images, label=label, case_id=folder.name, sources=sources)


def write_brats_case(case: Case, folder: str | Path, naming: str = "2023") -> Path:
    """Write ``case`` as a BraTS case folder (files named after ``case.case_id``).

    Every file is written atomically; existing files of the same names are replaced.
    Returns the folder.
    """
    if naming not in NAMINGS:
        raise CaseError(f"unknown BraTS naming {naming!r} (use {' or '.join(NAMINGS)})")
    if not _SAFE_ID.match(case.case_id):
        raise CaseError(f"case id {case.case_id!r} cannot be a file name (letters, digits, '.', '_', '-')")
    scheme = NAMINGS[naming]
    unknown = [c for c in case.contrasts if c not in scheme.suffixes]
    if unknown:
        raise CaseError(f"case {case.case_id}: contrasts {unknown} have no BraTS file name")
    folder = Path(folder)
    for contrast, image in case.images.items():
        write_image(image, folder / scheme.file_name(case.case_id, contrast))
    if case.label is not None:
        write_image(scheme.to_file(case.label), folder / scheme.file_name(case.case_id, "label"))
    return folder


def find_brats_cases(root: str | Path) -> list[Path]:
    """Case folders directly under a BraTS-layout dataset ``root``, sorted by name.

    Hidden folders are left out: a case folder being written (or left by a killed run) has a
    hidden temporary name until it is complete (:mod:`SynthPathologyLib.io.dataset_writer`).
    """
    root = Path(root)
    if not root.is_dir():
        raise CaseError(f"{root}: not a folder")
    return [p for p in sorted(root.iterdir()) if not p.name.startswith(".") and is_brats_case(p)]


def case_or_dataset(path: str | Path) -> list[Path]:
    """The case folders ``path`` names: itself when it is a case folder, its cases when it is a
    dataset folder.

    Raises :class:`CaseError` when it is neither.
    """
    path = Path(path)
    if is_brats_case(path):
        return [path]
    folders = find_brats_cases(path)
    if not folders:
        examples = ", ".join(NAMINGS["2023"].file_name(path.name, k) for k in ("t1", "label"))
        raise CaseError(f"{path}: neither a BraTS case folder (files such as {examples}) nor a dataset of them")
    return folders


def naming_of(folder: str | Path) -> str:
    """The BraTS naming ("2021" or "2023") of a case folder's files; "2023" when it has none."""
    naming = detect_naming(Path(folder))
    return "2023" if naming is None else naming.name


def require_brats_cases(root: str | Path) -> list[Path]:
    """:func:`find_brats_cases`, raising :class:`CaseError` if ``root`` holds no case folder."""
    folders = find_brats_cases(root)
    if not folders:
        raise CaseError(f"{root}: no BraTS case folders found")
    return folders


def iter_brats_dataset(root: str | Path, **read_options) -> Iterator[Case]:
    """Read the cases of a BraTS-layout dataset one at a time (options as :func:`read_brats_case`).

    Raises :class:`CaseError` if ``root`` holds no case folder.
    """
    for folder in require_brats_cases(root):
        yield read_brats_case(folder, **read_options)
