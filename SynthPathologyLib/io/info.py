"""Human-readable summaries of images, cases and datasets (``synthpathology info``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from ..core.case import Case, label_volumes_ml
from ..core.errors import CaseError
from ..core.image_io import describe_grid, image_suffix, read_image
from ..pathologies import get_pathology
from .brats import find_brats_cases, is_brats_case, read_brats_case


def format_label_volumes(label: sitk.Image, pathology: str = "glioma") -> str:
    """E.g. ``NCR 3.1 ml, ED 20.4 ml, ET 7.9 ml`` (labels named after ``pathology``)."""
    volumes = label_volumes_ml(label)
    labels = get_pathology(pathology).labels
    return ", ".join(f"{info.abbreviation} {volumes.get(info.value, 0.0):.1f} ml" for info in labels)


def describe_image(image: sitk.Image) -> str:
    """Grid, pixel type and intensity range of one image."""
    array = sitk.GetArrayViewFromImage(image)
    return (f"{describe_grid(image)}, {image.GetPixelIDTypeAsString()}, "
            f"range [{np.min(array):g}, {np.max(array):g}]")


def describe_case(case: Case) -> Iterator[str]:
    yield f"case {case.case_id}: {describe_grid(case.reference)}"
    for contrast, image in case.images.items():
        yield f"  {contrast:6s} {describe_image(image)}"
    if case.label is None:
        yield "  label  none"
    else:
        yield f"  label  {format_label_volumes(case.label, case.pathology)}"


def describe_dataset(root: Path, folders: list[Path]) -> Iterator[str]:
    yield f"dataset {root}: {len(folders)} case(s)"
    labelled = 0
    for folder in tqdm(folders, desc="reading cases", unit="case", leave=False):
        case = read_brats_case(folder, contrasts=())
        spacing = "x".join(f"{s:g}" for s in case.reference.GetSpacing())
        labels = "no label" if case.label is None else format_label_volumes(case.label, case.pathology)
        labelled += case.label is not None
        yield f"  {case.case_id}: {', '.join(case.contrasts)}; {spacing} mm; {labels}"
    yield f"{labelled} of {len(folders)} case(s) labelled"


def describe_path(path: Path) -> Iterator[str]:
    """Summary lines for an image file, a DICOM folder, a BraTS case folder or a dataset folder."""
    if not path.exists():
        raise CaseError(f"{path}: no such file or folder")
    if path.is_file() or image_suffix(path):
        yield f"{path}: {describe_image(read_image(path))}"
    elif is_brats_case(path):
        yield from describe_case(read_brats_case(path, contrasts=()))
    elif folders := find_brats_cases(path):
        yield from describe_dataset(path, folders)
    elif sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path)):
        yield f"{path}: {describe_image(read_image(path))}"
    else:
        raise CaseError(f"{path}: neither an image, a DICOM series, a BraTS case nor a dataset of cases")
