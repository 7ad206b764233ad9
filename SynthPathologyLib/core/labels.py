"""Checking label maps against a pathology's label values."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import SimpleITK as sitk

from ..pathologies import Pathology
from .errors import CaseError


def check_label(label: sitk.Image, pathology: Pathology, source: str) -> None:
    """Raise :class:`CaseError` if ``label`` holds values outside 0 and ``pathology``'s labels."""
    unknown = unknown_label_values(label, pathology.label_values)
    if unknown:
        raise CaseError(
            f"{source}: label values {unknown} are not {pathology.name} labels "
            f"(expected 0 and {', '.join(f'{l.value} {l.abbreviation}' for l in pathology.labels)})"
        )


def unknown_label_values(label: sitk.Image, allowed: Iterable[int]) -> list:
    """The values of a label map other than 0 and ``allowed``, sorted. When the map's range
    0..max holds only allowed values no voxel is visited twice: min and max take 2 ms on a
    1 mm brain, listing the values present 170 ms."""
    allowed = {0, *allowed}
    array = sitk.GetArrayViewFromImage(label)
    if array.size and array.dtype.kind in "ui" and array.min() >= 0 and set(range(int(array.max()) + 1)) <= allowed:
        return []
    return sorted(set(_label_values_present(label)) - allowed)


def _label_values_present(label: sitk.Image) -> list:
    """The distinct values of a label map. For small non-negative integers the values present are
    marked in a table: np.unique sorts and np.bincount copies to int64, 0.3-1 s on a BraTS-sized map."""
    array = sitk.GetArrayViewFromImage(label)
    if array.dtype.kind in "ui" and array.size and 0 <= array.min() and array.max() < 1024:
        present = np.zeros(int(array.max()) + 1, bool)
        present[array.ravel()] = True
        return np.flatnonzero(present).tolist()
    return np.unique(array).tolist()
