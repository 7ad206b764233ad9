"""Training a segmenter (:mod:`.segmenter`) on cases with labels, and scoring it on held-out ones:
the shipped evaluation segmenter (``synthpathology evaluate train-segmenter``) and every arm of the
downstream experiment use this one loop.

Each step draws ``batch_size`` patches from a random generator seeded by (seed, step) alone, so a
run is reproducible on one device: a patch centres on a random lesion voxel with probability
``lesion_fraction``, else on a random brain voxel; random flips on the three axes and a random
intensity scale (±10%) augment it. Loss: MONAI DiceCELoss on the sigmoid region channels. Adam,
cosine learning-rate decay, bf16 autocast where the hardware runs it fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.losses import DiceCELoss
from tqdm import tqdm

from ..core.precision import fast_autocast
from ..core.voxel_box import centered_box
from ..io.brats import read_brats_case
from ..models.segmenter import SegmenterCard
from .errors import EvaluationError
from .overlap import overlap_scores, region_masks
from .segmenter import NetworkInput, Segmenter, build_segmenter, network_input, segment


@dataclass(frozen=True)
class TrainingSettings:
    """Steps, batch, learning rate, sampling and seed of one training run."""

    steps: int = 1000
    batch_size: int = 2
    learning_rate: float = 2e-3
    lesion_fraction: float = 0.5
    seed: int = 0


def _patch(rng: np.random.Generator, case: NetworkInput, size: tuple[int, int, int],
           lesion_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (C, *size) image patch and its (*size) label patch, zero-padded at edges."""
    pool = np.argwhere(case.label > 0) if rng.random() < lesion_fraction and case.label.any() else None
    if pool is None:
        pool = np.argwhere(case.brain[::2, ::2, ::2]) * 2  # every other voxel: same spread, 8x less memory
    box = centered_box(pool[rng.integers(len(pool))], size, case.label.shape)
    image, label = case.image[(slice(None), *box)], case.label[box]
    missing = [(0, s - n) for s, n in zip(size, label.shape)]
    image, label = np.pad(image, [(0, 0)] + missing), np.pad(label, missing)
    for axis in range(3):
        if rng.random() < 0.5:
            image, label = np.flip(image, axis + 1), np.flip(label, axis)
    return np.ascontiguousarray(image * rng.uniform(0.9, 1.1)), np.ascontiguousarray(label)


def train_segmenter(cases: Sequence[NetworkInput], card: SegmenterCard, settings: TrainingSettings,
                    device: torch.device, progress: bool = True, description: str = "training") -> Segmenter:
    """Train a new segmenter described by ``card`` on ``cases`` and return it in eval mode."""
    if not cases:
        raise EvaluationError("no training cases")
    torch.manual_seed(settings.seed)
    network = build_segmenter(card).to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.steps)
    loss_function = DiceCELoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5)
    size = tuple(card.patch_size)
    for step in tqdm(range(settings.steps), desc=description, unit="step", disable=not progress, leave=False):
        rng = np.random.default_rng([settings.seed, step])
        patches = [_patch(rng, cases[int(rng.integers(len(cases)))], size, settings.lesion_fraction)
                   for _ in range(settings.batch_size)]
        images = torch.from_numpy(np.stack([p[0] for p in patches])).to(device)
        targets = torch.from_numpy(np.stack([region_masks(p[1], card.regions) for p in patches])).float().to(device)
        with fast_autocast(device):
            logits = network(images)
        loss = loss_function(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return Segmenter(network.eval(), card)


def read_inputs(folders: list[Path], card: SegmenterCard, progress: bool = True) -> list[NetworkInput]:
    """Each labelled case of ``folders`` as the segmenter sees it."""
    return [network_input(read_brats_case(f, contrasts=tuple(card.contrasts), require_label=True), card)
            for f in tqdm(folders, desc="reading cases", unit="case", disable=not progress, leave=False)]


def mean_scores(segmenter: Segmenter, cases: list[NetworkInput]) -> dict[str, dict[str, float]]:
    """Mean Dice and HD95 (mm) per region of ``segmenter`` on ``cases``."""
    rows = [overlap_scores(segment(segmenter, c), c.label, segmenter.card.spacing_mm, segmenter.card.regions)
            for c in cases]
    return {region: {key: float(np.mean([row[region][key] for row in rows])) for key in rows[0][region]}
            for region in rows[0]}
