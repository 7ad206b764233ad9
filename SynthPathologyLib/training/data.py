"""Training data: a MONAI pipeline that loads and caches cases, and per-step patch sampling.

Cases are read once (BraTS layout), normalized (see :mod:`SynthPathologyLib.networks.conditioning`) and
cached by a MONAI ``CacheDataset``. Each training step then draws its patches from a random
generator seeded by (seed, step, rank) alone, so a resumed run draws exactly the patches the
uninterrupted run would have drawn.

Patches are (C, z, y, x). Lesion patches centre on a random lesion voxel; healthy patches centre
on brain far from any lesion and get a random blob as synthesis region with an empty label, so the
generator also learns healthy inpainting (used for lesion removal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from monai.data import CacheDataset
from monai.transforms import Compose, MapTransform, RandFlipd, RandScaleIntensityd, RandShiftIntensityd

from ..core.errors import CaseError, SynthPathologyError
from ..core.voxel_box import centered_box
from ..io.brats import find_brats_cases, read_brats_case
from ..networks.conditioning import build_condition, intensity_scale
from ..pathologies import Pathology
from ..synthesis.region import synthesis_region


class LoadCased(MapTransform):
    """``{"folder": path}`` -> ``{"image": (C, z, y, x) float32 normalized, "label": (z, y, x)
    uint8, "brain": (z, y, x) bool, "spacing": (x, y, z) mm, "case_id": str}``."""

    def __init__(self, contrasts: Sequence[str]):
        super().__init__(keys=["folder"])
        self.contrasts = tuple(contrasts)

    def __call__(self, data: dict) -> dict:
        case = read_brats_case(data["folder"], contrasts=self.contrasts, require_label=True)
        brain = sitk.GetArrayFromImage(case.mask()) > 0
        arrays = [sitk.GetArrayFromImage(case.images[c]).astype(np.float32) for c in self.contrasts]
        image = np.stack([a / intensity_scale(a, brain) for a in arrays])
        return {"image": image, "label": sitk.GetArrayFromImage(case.label), "brain": brain,
                "spacing": case.reference.GetSpacing(), "case_id": case.case_id}


def split_cases(data: str | Path, validation_cases: int) -> tuple[list[Path], list[Path]]:
    """Training and held-out case folders of a BraTS-layout dataset (the last ones held out)."""
    folders = find_brats_cases(data)
    if not folders:
        raise CaseError(f"{data}: no BraTS case folders found; nothing to train on")
    if len(folders) <= validation_cases:
        raise CaseError(f"{data}: {len(folders)} case(s) cannot spare {validation_cases} for validation")
    return folders[: len(folders) - validation_cases], folders[len(folders) - validation_cases:]


def cached_cases(folders: Sequence[Path], contrasts: Sequence[str], progress: bool = True) -> CacheDataset:
    """Load, normalize and cache every case; a case's problem raises its own clear error."""
    try:
        return CacheDataset([{"folder": str(f)} for f in folders], LoadCased(contrasts), cache_rate=1.0,
                            num_workers=0, progress=progress)
    except RuntimeError as exc:
        # MONAI wraps a transform's exception in RuntimeError("applying transform ..."): surface
        # the user error (a missing label, a bad file) instead of the wrapper.
        cause = exc
        while cause is not None and not isinstance(cause, SynthPathologyError):
            cause = cause.__cause__
        if cause is None:
            raise
        raise cause from None


@dataclass
class PatchBatch:
    """A training batch: condition (B, Cc, z, y, x), target (B, C, z, y, x), region and lesion
    masks (B, 1, z, y, x) float32."""

    condition: torch.Tensor
    target: torch.Tensor
    region: torch.Tensor
    lesion: torch.Tensor


class PatchSampler:
    """Draws training batches from cached cases; batch ``step`` depends on (seed, step, rank) only."""

    def __init__(self, cases: CacheDataset, pathology: Pathology, patch_size: tuple[int, int, int],
                 margin_mm: float, healthy_fraction: float, seed: int, rank: int = 0):
        self.cases, self.pathology = cases, pathology
        self.patch_size, self.margin_mm = patch_size, margin_mm
        self.healthy_fraction, self.seed, self.rank = healthy_fraction, seed, rank
        keys = ["image", "region", "label"]
        self.augment = Compose([
            RandFlipd(keys, prob=0.5, spatial_axis=0), RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandFlipd(keys, prob=0.5, spatial_axis=2),
            RandScaleIntensityd("image", factors=0.1, prob=0.8),
            RandShiftIntensityd("image", offsets=0.05, prob=0.5),
        ])
        self._lesion_voxels: dict[int, np.ndarray] = {}

    def batch(self, step: int, batch_size: int) -> PatchBatch:
        rng = np.random.default_rng([self.seed, step, self.rank])
        self.augment.set_random_state(seed=int(rng.integers(2**31)))
        samples = [self._sample(rng) for _ in range(batch_size)]
        return PatchBatch(*(torch.from_numpy(np.stack(parts)) for parts in zip(*samples)))

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        index = int(rng.integers(len(self.cases)))
        case = self.cases[index]
        label, brain = case["label"], case["brain"]
        lesion_voxels = self._lesion_voxels_of(index)
        healthy = rng.random() < self.healthy_fraction or not len(lesion_voxels)
        if healthy:
            center, patch_label = self._healthy_center(rng, label, brain), None
        else:
            jitter = rng.integers(-self.patch_size[0] // 8, self.patch_size[0] // 8 + 1, 3)
            center = np.array(np.unravel_index(lesion_voxels[rng.integers(len(lesion_voxels))], label.shape)) + jitter
        box = centered_box(center, self.patch_size, label.shape)
        image = _pad(case["image"][(slice(None), *box)], self.patch_size)
        patch_label = _pad(label[box], self.patch_size)
        patch_brain = _pad(brain[box], self.patch_size)
        if healthy:
            region = _random_blob(rng, patch_brain, case["spacing"]) & (patch_label == 0)
            patch_label = np.zeros_like(patch_label)
        else:
            region = synthesis_region(patch_label, patch_brain, case["spacing"], self.margin_mm)
        data = self.augment({"image": image, "region": region[None], "label": patch_label[None]})
        image, region, patch_label = (np.asarray(data[k]) for k in ("image", "region", "label"))
        region, patch_label = region[0] > 0.5, np.rint(patch_label[0]).astype(np.uint8)
        noise = rng.standard_normal(region.shape, dtype=np.float32)
        condition = build_condition(image, patch_label, region, self.pathology.label_values, noise)
        lesion = (patch_label > 0)[None].astype(np.float32)
        return condition, image.astype(np.float32), region[None].astype(np.float32), lesion

    def _lesion_voxels_of(self, index: int) -> np.ndarray:
        """Flat indices of case ``index``'s lesion voxels (C order), found once per case: a
        whole-volume scan per sample took a third of the sampling time."""
        if index not in self._lesion_voxels:
            self._lesion_voxels[index] = np.flatnonzero(self.cases[index]["label"])
        return self._lesion_voxels[index]

    def _healthy_center(self, rng: np.random.Generator, label: np.ndarray, brain: np.ndarray) -> np.ndarray:
        candidates = np.argwhere(brain[::4, ::4, ::4] & (label[::4, ::4, ::4] == 0)) * 4
        if not len(candidates):
            raise CaseError("a training case has no healthy brain voxels to sample")
        return candidates[rng.integers(len(candidates))]


def _pad(array: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """Zero-pad the last three axes up to ``size`` (patches at the volume's edge)."""
    missing = [max(0, s - n) for s, n in zip(size, array.shape[-3:])]
    if not any(missing):
        return array
    widths = [(0, 0)] * (array.ndim - 3) + [(0, m) for m in missing]
    return np.pad(array, widths)


def _random_blob(rng: np.random.Generator, brain: np.ndarray, spacing_xyz) -> np.ndarray:
    """A random ellipsoid (radii 4-16 mm) at the patch centre, inside the brain: the synthesis
    region of a healthy-inpainting sample."""
    shape = np.array(brain.shape)
    radii_vox = rng.uniform(4.0, 16.0, 3) / np.asarray(spacing_xyz)[::-1]
    offset = rng.uniform(-0.15, 0.15, 3) * shape
    grid = np.indices(brain.shape, dtype=np.float32)
    center = (shape - 1) / 2 + offset
    distance = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii_vox))
    return (distance <= 1.0) & brain
