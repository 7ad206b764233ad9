"""Training batches: per-step patch sampling from cached cases (see :mod:`.sources`), drawn ahead
in worker processes (:func:`batch_loader`).

Each training step draws its patches from a random generator seeded by (seed, step, rank) alone,
so a resumed run draws exactly the patches the uninterrupted run would have drawn, whatever the
number of workers.

Patches are (C, z, y, x). A patch comes from a ``real_data`` case with probability
``real_fraction`` (when there are any), else from a ``--data`` case. Lesion patches centre on a
random lesion voxel; healthy patches centre anywhere in the brain clear of non-healthy tissue and
get random blobs as synthesis region with an empty label, so the generator also learns healthy
inpainting (lesion removal, ``synthpathology inpaint``). With contrast dropout a patch keeps only a
random non-empty subset of its contrasts (missing ones are zero channels flagged unavailable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from monai.transforms import Compose, RandFlipd, RandScaleIntensityd, RandShiftIntensityd

from ..core.errors import CaseError
from ..core.voxel_box import centered_box
from ..networks.conditioning import build_condition
from ..pathologies import Pathology
from ..synthesis.region import synthesis_region
from .appearance import randomize_appearance
from .case_cache import CachedCase
from .config import TrainConfig
from .sources import cached_cases, split_cases

__all__ = ["PatchBatch", "PatchSampler", "batch_loader", "cached_cases", "split_cases"]


@dataclass
class PatchBatch:
    """A training batch: condition (B, Cc, z, y, x), target (B, C, z, y, x), region and lesion
    masks (B, 1, z, y, x), availability of each contrast (B, C, 1, 1, 1) and a second noise draw
    inside the region (B, 1, z, y x; the mode-seeking term's), all float32."""

    condition: torch.Tensor
    target: torch.Tensor
    region: torch.Tensor
    lesion: torch.Tensor
    available: torch.Tensor
    other_noise: torch.Tensor

    def pin_memory(self) -> PatchBatch:
        """The batch in page-locked memory, whence it reaches a GPU faster (a DataLoader with
        ``pin_memory`` calls this)."""
        return PatchBatch(*(getattr(self, f.name).pin_memory() for f in fields(self)))


class PatchSampler:
    """Draws training batches; batch ``step`` depends on (seed, step, rank) only.

    Args:
        cases: the ``--data`` training cases; ``real_cases``: the ``real_data`` cases (may be empty).
        availability: whether conditions carry availability channels (v2 generators).
    """

    def __init__(self, cases: Sequence[CachedCase], pathology: Pathology, config: TrainConfig, rank: int = 0,
                 real_cases: Sequence[CachedCase] | None = None):
        self.sources = [cases] + ([real_cases] if real_cases is not None and len(real_cases) else [])
        self.pathology, self.config, self.rank = pathology, config, rank
        self.availability = config.network.any_contrasts
        keys = ["image", "region", "label"]
        self.augment = Compose([
            RandFlipd(keys, prob=0.5, spatial_axis=0), RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandFlipd(keys, prob=0.5, spatial_axis=2),
            RandScaleIntensityd("image", factors=0.1, prob=0.8),
            RandShiftIntensityd("image", offsets=0.05, prob=0.5),
        ])

    def batch(self, step: int, batch_size: int) -> PatchBatch:
        rng = np.random.default_rng([self.config.seed, step, self.rank])
        self.augment.set_random_state(seed=int(rng.integers(2**31)))
        samples = [self._sample(rng) for _ in range(batch_size)]
        return PatchBatch(*(torch.from_numpy(np.stack(parts)) for parts in zip(*samples)))

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        config, size = self.config, self.config.patch_size
        source = 1 if len(self.sources) > 1 and rng.random() < config.real_fraction else 0
        index = int(rng.integers(len(self.sources[source])))
        case = self.sources[source][index]
        lesion_voxels = case.array("lesion_voxels")
        healthy = rng.random() < config.healthy_fraction or not len(lesion_voxels)
        if healthy:
            center = self._healthy_center(rng, case)
        else:
            jitter = rng.integers(-size[0] // 8, size[0] // 8 + 1, 3)
            center = np.array(np.unravel_index(lesion_voxels[rng.integers(len(lesion_voxels))], case.shape)) + jitter
        box = centered_box(center, size, case.shape)
        image = _pad(case.image(box), size)
        patch_label = _pad(case.window("label", box), size)
        patch_brain = _pad(case.window("brain", box), size)
        if healthy:
            region = random_blobs(rng, patch_brain, case.spacing, config.healthy_radius_mm)
            region &= ~_pad(case.window("avoid", box), size)
            patch_label = np.zeros_like(patch_label)
        else:
            region = synthesis_region(patch_label, patch_brain, case.spacing, config.margin_mm)
        data = self.augment({"image": image, "region": region[None], "label": patch_label[None]})
        image, region, patch_label = (np.asarray(data[k]) for k in ("image", "region", "label"))
        region, patch_label = region[0] > 0.5, np.rint(patch_label[0]).astype(np.uint8)
        if config.appearance_augment:
            image = randomize_appearance(image.astype(np.float32), rng)
        available = np.ones(len(image), bool)
        if rng.random() < config.contrast_dropout:
            available = contrast_subset(rng, len(image))
        noise = rng.standard_normal(region.shape, dtype=np.float32)
        other_noise = (rng.standard_normal(region.shape, dtype=np.float32) * region)[None]
        condition = build_condition(image, patch_label, region, self.pathology.label_values, noise,
                                    available if self.availability else None)
        lesion = (patch_label > 0)[None].astype(np.float32)
        flags = available.astype(np.float32)[:, None, None, None]
        return condition, image.astype(np.float32), region[None].astype(np.float32), lesion, flags, other_noise

    def _healthy_center(self, rng: np.random.Generator, case: CachedCase) -> np.ndarray:
        candidates = case.array("healthy_centers")
        if not len(candidates):
            raise CaseError("a training case has no healthy brain voxels to sample")
        return np.array(candidates[rng.integers(len(candidates))])


class _StepBatches(torch.utils.data.Dataset):
    """Item ``step``: the sampler's batch of that training step (what a DataLoader's workers draw)."""

    def __init__(self, sampler: PatchSampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def __getitem__(self, step: int) -> PatchBatch:
        return self.sampler.batch(step, self.batch_size)


def batch_loader(sampler: PatchSampler, batch_size: int, steps: range, workers: int,
                 pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """The batches of ``steps`` in order, drawn ahead by ``workers`` processes (two batches each in
    advance; 0: drawn in this process when asked for), in page-locked memory with ``pin_memory``
    (for a CUDA device). Batch ``s`` is ``sampler.batch(s, batch_size)`` whatever ``workers``."""
    return torch.utils.data.DataLoader(_StepBatches(sampler, batch_size), batch_size=None, sampler=steps,
                                       num_workers=workers, pin_memory=pin_memory)


def contrast_subset(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random non-empty subset of ``n`` contrasts (bool (n,)): each kept with probability 1/2,
    drawn again when none is."""
    while True:
        kept = rng.random(n) < 0.5
        if kept.any():
            return kept


def _pad(array: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """Zero-pad the last three axes up to ``size`` (patches at the volume's edge)."""
    missing = [max(0, s - n) for s, n in zip(size, array.shape[-3:])]
    if not any(missing):
        return array
    widths = [(0, 0)] * (array.ndim - 3) + [(0, m) for m in missing]
    return np.pad(array, widths)


def random_blobs(rng: np.random.Generator, brain: np.ndarray, spacing_xyz,
                 radius_mm: tuple[float, float]) -> np.ndarray:
    """A healthy-inpainting synthesis region: the union of 1-3 random ellipsoids (radii drawn in
    ``radius_mm``, mm) near the patch centre, inside the brain (bool, the patch's shape)."""
    shape = np.array(brain.shape)
    grid = np.indices(brain.shape, dtype=np.float32)
    region = np.zeros(brain.shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        radii_vox = rng.uniform(*radius_mm, 3) / np.asarray(spacing_xyz)[::-1]
        center = (shape - 1) / 2 + rng.uniform(-0.15, 0.15, 3) * shape
        region |= sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii_vox)) <= 1.0
    return region & brain
