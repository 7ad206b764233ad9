"""What the user asks for: a lesion's pathology, place, size, orientation and composition."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..core.errors import SynthPathologyError
from ..pathologies import get_pathology


@dataclass(frozen=True)
class Composition:
    """Inner make-up of a lesion (each pathology's shape uses the fields that apply to it).

    Attributes:
        edema_extent_mm: how far peritumoral edema reaches beyond the tumor core (mm, along white
            matter; less across grey matter). 0 gives no edema.
        necrosis_fraction: fraction of the core volume that is necrotic, in [0, 0.9].
        rim_thickness_mm: thickness of the enhancing rim around the necrosis (mm).
        irregularity: amplitude of the smooth random deformation of the core surface, in [0, 1]
            (0 is a plain ellipsoid; the default 0.7 gives lobes and clefts about as irregular as
            real glioma cores).
        enhancing: whether the lesion takes up gadolinium (an enhancing rim or solid core for
            tumours, an active plaque in multiple sclerosis); without it a tumour core is all
            non-enhancing (label 1), as in many lower-grade gliomas.
    """

    edema_extent_mm: float = 8.0
    necrosis_fraction: float = 0.3
    rim_thickness_mm: float = 3.0
    irregularity: float = 0.7
    enhancing: bool = True

    @classmethod
    def for_pathology(cls, pathology: str, **fields: float | bool) -> "Composition":
        """The composition with ``pathology``'s own defaults (e.g. no edema in multiple sclerosis),
        updated by ``fields`` (those given as None keep the default)."""
        defaults = dict(get_pathology(pathology).composition_defaults)
        return cls(**{**defaults, **{k: v for k, v in fields.items() if v is not None}})

    def __post_init__(self) -> None:
        _require(self.edema_extent_mm >= 0, f"edema extent must be >= 0 mm, got {self.edema_extent_mm}")
        _require(0 <= self.necrosis_fraction <= 0.9, f"necrosis fraction must be in [0, 0.9], got {self.necrosis_fraction}")
        _require(self.rim_thickness_mm > 0, f"enhancing rim thickness must be > 0 mm, got {self.rim_thickness_mm}")
        _require(0 <= self.irregularity <= 1, f"irregularity must be in [0, 1], got {self.irregularity}")


@dataclass(frozen=True)
class LesionSpec:
    """A lesion request.

    Attributes:
        center_lps: seed point, physical LPS coordinates in mm (Slicer's RAS with x, y negated).
        diameters_mm: diameters of the tumor core along the lesion's three axes (mm).
        orientation_deg: rotation of the lesion axes from the LPS axes, as rotations about x, then
            y, then z (degrees, extrinsic).
        composition: inner make-up (edema, necrosis, rim).
        pathology: registered pathology name.
        random_seed: seed of every random choice; the same spec gives the same label map.
    """

    center_lps: tuple[float, float, float]
    diameters_mm: tuple[float, float, float]
    orientation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    composition: Composition = field(default_factory=Composition)
    pathology: str = "glioma"
    random_seed: int = 0

    def __post_init__(self) -> None:
        _require(len(self.center_lps) == 3 and len(self.diameters_mm) == 3, "center and diameters need 3 values")
        _require(np.all(np.isfinite(self.center_lps)), f"seed must be finite, got {self.center_lps}")
        _require(min(self.diameters_mm) > 0, f"diameters must be > 0 mm, got {self.diameters_mm}")
        object.__setattr__(self, "center_lps", tuple(float(v) for v in self.center_lps))
        object.__setattr__(self, "diameters_mm", tuple(float(v) for v in self.diameters_mm))
        object.__setattr__(self, "orientation_deg", tuple(float(v) for v in self.orientation_deg))

    def rotation(self) -> np.ndarray:
        """3x3 matrix whose columns are the lesion axes in LPS."""
        ax, ay, az = np.deg2rad(self.orientation_deg)
        rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
        ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
        rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
        return rz @ ry @ rx

    def core_volume_mm3(self) -> float:
        """Volume of the ellipsoid with the requested diameters (mm^3)."""
        a, b, c = self.diameters_mm
        return float(np.pi / 6.0 * a * b * c)

    def with_center(self, center_lps: tuple[float, float, float]) -> "LesionSpec":
        return replace(self, center_lps=tuple(center_lps))

    def to_dict(self) -> dict:
        """Plain JSON-ready form (for provenance)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LesionSpec":
        data = dict(data)
        data["composition"] = Composition(**data.get("composition", {}))
        return cls(**data)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SynthPathologyError(message)
