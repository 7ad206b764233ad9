"""Pathology definitions: data, registered by name.

A pathology names its label values (with names and display colors), the MR contrasts its models
expect, the generator of its lesion shape and its default model. Label values follow the
library's internal convention; file conventions that differ (BraTS 2021 stores enhancing tumor
as 4) are translated at read and write time by :mod:`SynthPathologyLib.brats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import SimpleITK as sitk

from .errors import CaseError, SynthPathologyError
from .glioma_shape import glioma_regions


@dataclass(frozen=True)
class LabelInfo:
    """One label value of a pathology's label map.

    ``region`` is the role the shape generator fills (e.g. "necrosis"); ``color`` is RGB in [0, 1].
    """

    value: int
    name: str
    abbreviation: str
    region: str
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Pathology:
    """A pathology the library can synthesize.

    ``shape`` builds the lesion's sub-region masks from a :class:`~SynthPathologyLib.lesion_spec.LesionSpec`
    (see :func:`SynthPathologyLib.glioma_shape.glioma_regions` for the signature); ``core_regions``
    are the regions that make the lesion's core (its centroid and volume follow the seed and size).
    """

    name: str
    display_name: str
    labels: tuple[LabelInfo, ...]
    contrasts: tuple[str, ...]
    core_regions: tuple[str, ...]
    shape: Callable[..., dict[str, np.ndarray]]
    default_model: str

    @property
    def label_values(self) -> tuple[int, ...]:
        return tuple(label.value for label in self.labels)

    @property
    def core_values(self) -> tuple[int, ...]:
        return tuple(label.value for label in self.labels if label.region in self.core_regions)

    def value_of(self, region: str) -> int:
        """The label value that marks ``region``."""
        for label in self.labels:
            if label.region == region:
                return label.value
        raise KeyError(f"pathology {self.name!r} has no region {region!r}")

    def check_label(self, label: sitk.Image, source: str) -> None:
        """Raise :class:`CaseError` if ``label`` holds values outside 0 and this pathology's labels."""
        unknown = unknown_label_values(label, self.label_values)
        if unknown:
            raise CaseError(
                f"{source}: label values {unknown} are not {self.name} labels "
                f"(expected 0 and {', '.join(f'{l.value} {l.abbreviation}' for l in self.labels)})"
            )


def unknown_label_values(label: sitk.Image, allowed) -> list:
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


_REGISTRY: dict[str, Pathology] = {}


CONTRAST_TITLES = {"t1": "T1", "t1c": "T1c", "t2": "T2", "flair": "FLAIR"}


def contrast_title(contrast: str) -> str:
    """How a contrast is named to users ("flair" -> "FLAIR"); unknown ones are upper-cased."""
    return CONTRAST_TITLES.get(contrast, contrast.upper())


def register_pathology(pathology: Pathology) -> None:
    """Make ``pathology`` available by name; a name can be registered once."""
    if pathology.name in _REGISTRY:
        raise ValueError(f"pathology {pathology.name!r} is already registered")
    _REGISTRY[pathology.name] = pathology


def get_pathology(name: str) -> Pathology:
    """The registered pathology called ``name``; a clear error lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SynthPathologyError(
            f"unknown pathology {name!r} (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def pathology_names() -> list[str]:
    return sorted(_REGISTRY)


GLIOMA = Pathology(
    name="glioma",
    display_name="Glioma (BraTS)",
    labels=(
        LabelInfo(1, "necrotic tumor core", "NCR", "necrosis", (0.90, 0.20, 0.20)),
        LabelInfo(2, "peritumoral edema", "ED", "edema", (0.30, 0.80, 0.30)),
        LabelInfo(3, "enhancing tumor", "ET", "enhancing", (1.00, 0.85, 0.10)),
    ),
    contrasts=("t1", "t1c", "t2", "flair"),
    core_regions=("necrosis", "enhancing"),
    shape=glioma_regions,
    default_model="glioma_phantom_pix2pix",
)
register_pathology(GLIOMA)
