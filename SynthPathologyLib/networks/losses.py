"""Pix2Pix losses: MONAI's patch adversarial loss and a lesion-weighted L1."""

from __future__ import annotations

import torch
from monai.losses import PatchAdversarialLoss

# Weight of the voxels outside the synthesis region in the L1 term: the generator's output there
# is discarded at inference, but a little weight keeps its output continuous across the border.
OUTSIDE_REGION_WEIGHT = 0.05


def adversarial_loss(criterion: str) -> PatchAdversarialLoss:
    """"least_squares" or "hinge" patch loss on the discriminator's logits."""
    return PatchAdversarialLoss(criterion=criterion, reduction="mean")


def lesion_weighted_l1(prediction: torch.Tensor, target: torch.Tensor, region: torch.Tensor,
                       lesion: torch.Tensor, lesion_weight: float) -> torch.Tensor:
    """Mean absolute error, weighted 1 in the synthesis region, ``lesion_weight`` on lesion
    voxels and :data:`OUTSIDE_REGION_WEIGHT` elsewhere.

    prediction, target: (B, C, z, y, x); region, lesion: (B, 1, z, y, x) in {0, 1}.
    """
    weight = OUTSIDE_REGION_WEIGHT + region * (1 - OUTSIDE_REGION_WEIGHT) + lesion * (lesion_weight - 1)
    return (weight * (prediction - target).abs()).sum() / (weight.sum() * prediction.shape[1])
