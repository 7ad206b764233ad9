"""Where training cases come from: the ``--data`` dataset (split into training and held-out cases)
and further real datasets, loaded, normalized and cached by a MONAI ``CacheDataset``.

A cached case is ``{"image": (C, z, y, x) float32 normalized, "label": (z, y, x) uint8, "brain":
(z, y, x) bool, "avoid": (z, y, x) bool, "spacing": (x, y, z) mm, "case_id": str}``; ``avoid`` marks
tissue that is not healthy (the label's lesion, and a ``<case>-lesion`` mask when the case has
one, e.g. multiple sclerosis lesions), which healthy-inpainting masks stay clear of.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from monai.data import CacheDataset
from monai.transforms import MapTransform

from ..core.errors import CaseError, SynthPathologyError
from ..core.image_io import read_image, require_same_grid
from ..io.brats import find_brats_cases, read_brats_case
from ..networks.conditioning import intensity_scale

# Binary masks of non-healthy tissue that are not labels of the pathology (BraTS-style file name).
LESION_MASK_SUFFIX = "-lesion"


class LoadCased(MapTransform):
    """``{"folder": path}`` -> a cached case (see the module docstring).

    Args:
        contrasts: contrasts every case must hold, in channel order.
        require_label: refuse a case without segmentation (else its label is empty).
    """

    def __init__(self, contrasts: Sequence[str], require_label: bool = True):
        super().__init__(keys=["folder"])
        self.contrasts = tuple(contrasts)
        self.require_label = require_label

    def __call__(self, data: dict) -> dict:
        folder = Path(data["folder"])
        case = read_brats_case(folder, contrasts=self.contrasts, require_label=self.require_label)
        brain = sitk.GetArrayFromImage(case.mask()) > 0
        arrays = [sitk.GetArrayFromImage(case.images[c]).astype(np.float32) for c in self.contrasts]
        image = np.stack([a / intensity_scale(a, brain) for a in arrays])
        shape = brain.shape
        label = sitk.GetArrayFromImage(case.label) if case.label is not None else np.zeros(shape, np.uint8)
        avoid = label > 0
        for path in sorted(folder.glob(f"{folder.name}{LESION_MASK_SUFFIX}.nii*")):
            mask = read_image(path)
            require_same_grid(mask, case.reference, path.name, f"case {case.case_id}")
            avoid |= sitk.GetArrayFromImage(mask) > 0
        return {"image": image, "label": label, "brain": brain, "avoid": avoid,
                "spacing": case.reference.GetSpacing(), "case_id": case.case_id}


def split_cases(data: str | Path, validation_cases: int,
                exclude: Sequence[str] = ()) -> tuple[list[Path], list[Path]]:
    """Training and held-out case folders of a BraTS-layout dataset (the last ones held out), without
    the case ids in ``exclude``."""
    folders = [f for f in find_brats_cases(data) if f.name not in set(exclude)]
    if not folders:
        raise CaseError(f"{data}: no BraTS case folders found; nothing to train on")
    if len(folders) <= validation_cases:
        raise CaseError(f"{data}: {len(folders)} case(s) cannot spare {validation_cases} for validation")
    return folders[: len(folders) - validation_cases], folders[len(folders) - validation_cases:]


def real_case_folders(datasets: Sequence[str | Path], exclude: Sequence[str] = ()) -> list[Path]:
    """The case folders of the ``real_data`` datasets, without the case ids in ``exclude``."""
    folders = []
    for dataset in datasets:
        found = [f for f in find_brats_cases(dataset) if f.name not in set(exclude)]
        if not found:
            raise CaseError(f"real_data {dataset}: no BraTS case folders found (after excluding {list(exclude)})")
        folders += found
    return folders


def cached_cases(folders: Sequence[Path], contrasts: Sequence[str], progress: bool = True,
                 require_label: bool = True) -> CacheDataset:
    """Load, normalize and cache every case; a case's problem raises its own clear error."""
    try:
        return CacheDataset([{"folder": str(f)} for f in folders], LoadCased(contrasts, require_label),
                            cache_rate=1.0, num_workers=0, progress=progress)
    except RuntimeError as exc:
        # MONAI wraps a transform's exception in RuntimeError("applying transform ..."): surface
        # the user error (a missing label, a bad file) instead of the wrapper.
        cause = exc
        while cause is not None and not isinstance(cause, SynthPathologyError):
            cause = cause.__cause__
        if cause is None:
            raise
        raise cause from None
