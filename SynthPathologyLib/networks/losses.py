"""Pix2Pix losses: MONAI's patch adversarial loss, a lesion-weighted L1, the margin band's match,
the mode-seeking (diversity) term and discriminator feature matching.

Tensors are (B, C, z, y, x) images and (B, 1, z, y, x) masks in {0, 1}; ``available`` (B, C, 1, 1, 1)
flags the contrasts a sample has (losses ignore the others).
"""

from __future__ import annotations

import torch
from monai.losses import PatchAdversarialLoss

# Weight of the voxels outside the synthesis region in the L1 term: the generator's output there
# is discarded at inference, but a little weight keeps its output continuous across the border.
OUTSIDE_REGION_WEIGHT = 0.05
EPSILON = 1e-6


def adversarial_loss(criterion: str) -> PatchAdversarialLoss:
    """"least_squares" or "hinge" patch loss on the discriminator's logits."""
    return PatchAdversarialLoss(criterion=criterion, reduction="mean")


def lesion_weighted_l1(prediction: torch.Tensor, target: torch.Tensor, region: torch.Tensor, lesion: torch.Tensor,
                       lesion_weight: float, available: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error, weighted 1 in the synthesis region, ``lesion_weight`` on lesion
    voxels and :data:`OUTSIDE_REGION_WEIGHT` elsewhere; only ``available`` contrasts count."""
    weight = OUTSIDE_REGION_WEIGHT + region * (1 - OUTSIDE_REGION_WEIGHT) + lesion * (lesion_weight - 1)
    if available is None:
        available = torch.ones_like(prediction[:, :, :1, :1, :1])
    weight = weight * available
    return (weight * (prediction - target).abs()).sum() / weight.sum().clamp_min(EPSILON)


def _masked_moments(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each (sample, contrast) over ``mask``: (B, C) each."""
    count = mask.sum((2, 3, 4)).clamp_min(1.0)
    mean = (image * mask).sum((2, 3, 4)) / count
    variance = (((image - mean[..., None, None, None]) * mask) ** 2).sum((2, 3, 4)) / count
    return mean, (variance + EPSILON).sqrt()


def band_loss(prediction: torch.Tensor, target: torch.Tensor, region: torch.Tensor, lesion: torch.Tensor,
              available: torch.Tensor) -> torch.Tensor:
    """How far the margin band (region minus lesion; the whole region of a healthy sample) is from
    the real band in mean and spread, per contrast: a halo or a flat band costs."""
    band = region * (1 - lesion)
    fake_mean, fake_std = _masked_moments(prediction, band)
    real_mean, real_std = _masked_moments(target, band)
    weight = available[:, :, 0, 0, 0] * (band.sum((2, 3, 4)) > 0)
    error = (fake_mean - real_mean).abs() + (fake_std - real_std).abs()
    return (weight * error).sum() / weight.sum().clamp_min(1.0)


def mode_seeking_loss(first: torch.Tensor, second: torch.Tensor, first_noise: torch.Tensor,
                      second_noise: torch.Tensor, region: torch.Tensor, target_ratio: float) -> torch.Tensor:
    """Mode seeking (Mao et al., CVPR 2019), hinged: how far the mean output difference in the
    region between two noise draws, per unit of mean noise difference, falls short of ``target_ratio``.
    0 once the outputs differ that much; pushes the generator to use its noise."""
    count = region.sum().clamp_min(1.0)
    output = ((first - second).abs() * region).sum() / (count * first.shape[1])
    noise = ((first_noise - second_noise).abs() * region).sum() / count
    return torch.relu(target_ratio - output / noise.clamp_min(EPSILON))


def feature_matching_loss(fake_features: list[torch.Tensor], real_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between the discriminator's intermediate features of fake and real inputs (the
    last, the logits, left out); ``real_features`` are treated as constants."""
    pairs = list(zip(fake_features[:-1], real_features[:-1]))
    return sum((f.float() - r.detach().float()).abs().mean() for f, r in pairs) / max(len(pairs), 1)
