"""A multi-contrast case: contrast name -> SimpleITK image, all on one grid, plus an optional
brain mask and lesion label map."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..pathologies import get_pathology
from .errors import CaseError
from .image_io import read_image, require_same_grid, resample_like
from .labels import check_label


@dataclass
class Case:
    """Images of one subject on one voxel grid.

    Attributes:
        images: contrast name (e.g. "t1", "t1c", "t2", "flair") -> 3D scalar image. The first
            entry is the reference grid.
        label: lesion label map (uint8, the pathology's values, 0 = background) or None.
        brain_mask: brain mask (uint8, 1 = brain) or None; :meth:`mask` derives one if absent.
        case_id: identifier, e.g. the BraTS folder name.
        pathology: name of the registered pathology the label follows.
        sources: where each image came from (contrast, "label" or "brain_mask" -> path), used in
            error messages.
    """

    images: dict[str, sitk.Image]
    label: sitk.Image | None = None
    brain_mask: sitk.Image | None = None
    case_id: str = "case"
    pathology: str = "glioma"
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.images:
            raise CaseError(f"case {self.case_id}: no images")
        reference_name = self._name(self.contrasts[0])
        for key, image in self._all_images():
            require_same_grid(image, self.reference, self._name(key), reference_name)
        if self.label is not None:
            check_label(self.label, get_pathology(self.pathology), self._name("label"))
            self.label = sitk.Cast(self.label, sitk.sitkUInt8)
        if self.brain_mask is not None:
            self.brain_mask = _binary_mask(self.brain_mask)

    @property
    def contrasts(self) -> list[str]:
        return list(self.images)

    @property
    def reference(self) -> sitk.Image:
        """The image whose grid every other image of the case shares."""
        return self.images[self.contrasts[0]]

    def _all_images(self):
        yield from self.images.items()
        if self.label is not None:
            yield "label", self.label
        if self.brain_mask is not None:
            yield "brain_mask", self.brain_mask

    def _name(self, key: str) -> str:
        return self.sources.get(key, f"{self.case_id} {key}")

    def require_contrasts(self, contrasts: tuple[str, ...] | list[str]) -> None:
        """Raise :class:`CaseError` naming the contrasts this case lacks."""
        missing = [c for c in contrasts if c not in self.images]
        if missing:
            raise CaseError(
                f"case {self.case_id}: missing contrast(s) {', '.join(missing)} "
                f"(has {', '.join(self.contrasts)})"
            )

    def mask(self) -> sitk.Image:
        """The brain mask: the stored one, else the voxels non-zero in any contrast.

        Skull-stripped data (BraTS) is exactly 0 outside the brain; holes inside are filled.
        """
        if self.brain_mask is not None:
            return self.brain_mask
        nonzero = np.zeros(sitk.GetArrayViewFromImage(self.reference).shape, bool)
        for image in self.images.values():
            nonzero |= sitk.GetArrayViewFromImage(image) != 0
        mask = sitk.GetImageFromArray(nonzero.astype(np.uint8))
        mask.CopyInformation(self.reference)
        return sitk.BinaryFillhole(mask)

    def label_volumes_ml(self) -> dict[int, float]:
        """Volume of each non-zero label value, in millilitres (empty without label)."""
        return {} if self.label is None else label_volumes_ml(self.label)


def _binary_mask(mask: sitk.Image) -> sitk.Image:
    """``mask`` as uint8 0/1 (non-zero = 1); returned as is when it already is (no voxel copied:
    every synthesis result shares its input's mask)."""
    array = sitk.GetArrayViewFromImage(mask)
    if array.dtype == np.uint8 and (not array.size or array.max() <= 1):
        return mask
    binary = sitk.GetImageFromArray((array != 0).view(np.uint8))
    binary.CopyInformation(mask)
    return binary


def label_volumes_ml(label: sitk.Image) -> dict[int, float]:
    """Volume of each non-zero value of a label map, in millilitres."""
    voxel_ml = float(np.prod(label.GetSpacing())) / 1000.0
    values, counts = np.unique(sitk.GetArrayViewFromImage(label), return_counts=True)
    return {int(v): float(c) * voxel_ml for v, c in zip(values, counts) if v != 0}


def load_case(
    files: Mapping[str, str | Path],
    *,
    label: str | Path | None = None,
    brain_mask: str | Path | None = None,
    case_id: str = "case",
    pathology: str = "glioma",
    resample: bool = False,
) -> Case:
    """Read a case from one file (or DICOM folder) per contrast.

    With ``resample=True`` images on another grid than the first contrast are resampled onto it
    (B-spline for intensities, nearest neighbour for label and mask); otherwise a grid mismatch
    raises :class:`~SynthPathologyLib.core.errors.GridMismatchError`.
    """
    sources = {key: str(path) for key, path in files.items()}
    images = {key: read_image(path) for key, path in files.items()}
    extra = {}
    for key, path in (("label", label), ("brain_mask", brain_mask)):
        if path is not None:
            sources[key] = str(path)
            extra[key] = read_image(path)
    if resample and images:
        reference = next(iter(images.values()))
        images = {k: resample_like(v, reference) for k, v in images.items()}
        extra = {k: resample_like(v, reference, is_label=True) for k, v in extra.items()}
    return Case(images, case_id=case_id, pathology=pathology, sources=sources, **extra)
