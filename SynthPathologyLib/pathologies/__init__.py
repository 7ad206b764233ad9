"""Pathology definitions: data, registered by name.

A pathology names its label values (with names and display colors), the MR contrasts its models
expect, the function that draws its lesion shape and its default model. Label values follow the
library's internal convention; file conventions that differ (BraTS 2021 stores enhancing tumor
as 4) are translated at read and write time by :mod:`SynthPathologyLib.io.brats`.

This package is pure data and imports nothing heavy (no numpy, SimpleITK or torch), so that a
user interface can list pathologies before the scientific stack is loaded. Each pathology lives
in its own module, which registers itself when this package is imported; its shape function is
named as ``"module:function"`` and imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..core.errors import SynthPathologyError


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

    ``description`` is one line for people (``synthpathology pathologies`` lists it);
    ``shape_function`` names (``"package.module:function"``, inside SynthPathologyLib) the function
    that builds the lesion's sub-region masks from a :class:`~SynthPathologyLib.lesions.spec.LesionSpec`
    (see :func:`SynthPathologyLib.lesions.glioma_shape.glioma_regions` for the signature);
    ``core_regions`` are the regions that make the lesion's core (its centroid and volume follow
    the seed and size). ``sampler_function`` names the function that draws a random plausible
    lesion request where this pathology grows (see
    :func:`SynthPathologyLib.lesions.sampling.random_glioma_spec` for the signature);
    ``diameter_range_mm`` is the range of core diameters it draws by default (mm);
    ``lesions_per_case`` how many lesions a random case holds (inclusive range);
    ``composition_defaults`` the :class:`~SynthPathologyLib.lesions.spec.Composition` fields that
    differ from its defaults for this pathology (e.g. no edema); ``space_occupying`` whether the
    lesion pushes the tissue around it (tumours do, demyelinating plaques do not);
    ``phantom_labels`` the label values every lesion of a phantom case holds.
    """

    name: str
    display_name: str
    description: str
    labels: tuple[LabelInfo, ...]
    contrasts: tuple[str, ...]
    core_regions: tuple[str, ...]
    shape_function: str
    default_model: str
    sampler_function: str
    diameter_range_mm: tuple[float, float]
    lesions_per_case: tuple[int, int] = (1, 1)
    composition_defaults: tuple[tuple[str, Any], ...] = ()
    space_occupying: bool = True
    phantom_labels: tuple[int, ...] = ()

    @property
    def label_values(self) -> tuple[int, ...]:
        return tuple(label.value for label in self.labels)

    @property
    def core_values(self) -> tuple[int, ...]:
        return tuple(label.value for label in self.labels if label.region in self.core_regions)

    def fit_diameter_mm(self, diameter_mm: float) -> float:
        """``diameter_mm`` brought into :attr:`diameter_range_mm` (a 30 mm glioma size asked of MS
        becomes a 15 mm plaque)."""
        low, high = self.diameter_range_mm
        return min(max(float(diameter_mm), low), high)

    def value_of(self, region: str) -> int:
        """The label value that marks ``region``."""
        for label in self.labels:
            if label.region == region:
                return label.value
        raise KeyError(f"pathology {self.name!r} has no region {region!r}")

    def shape(self, *args: Any, **kwargs: Any) -> Any:
        """Call the pathology's shape function (imported on first use)."""
        return _resolve(self.shape_function)(*args, **kwargs)

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        """Call the pathology's sampler (imported on first use)."""
        return _resolve(self.sampler_function)(*args, **kwargs)


def _resolve(name: str) -> Any:
    """The function ``"module:function"`` names, inside SynthPathologyLib."""
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(f"{__package__.rpartition('.')[0]}.{module}"), function)


_REGISTRY: dict[str, Pathology] = {}

CONTRAST_TITLES = {"t1": "T1", "t1c": "T1c", "t2": "T2", "flair": "FLAIR"}


def contrast_title(contrast: str) -> str:
    """How a contrast is named to users ("flair" -> "FLAIR"); unknown ones are upper-cased."""
    return CONTRAST_TITLES.get(contrast, contrast.upper())


def register_pathology(pathology: Pathology) -> Pathology:
    """Make ``pathology`` available by name; a name can be registered once."""
    if pathology.name in _REGISTRY:
        raise ValueError(f"pathology {pathology.name!r} is already registered")
    _REGISTRY[pathology.name] = pathology
    return pathology


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


# Each registers itself, and needs the registry above.
from . import glioma, metastasis, ms  # noqa: E402,F401
