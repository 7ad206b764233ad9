"""The v2 recipe's loss terms: the margin band's match, mode seeking and feature matching."""

from __future__ import annotations

import torch

from SynthPathologyLib.networks.losses import band_loss, feature_matching_loss, lesion_weighted_l1, mode_seeking_loss


def masks() -> tuple[torch.Tensor, torch.Tensor]:
    region = torch.zeros(2, 1, 8, 8, 8)
    region[..., 1:7, 1:7, 1:7] = 1
    lesion = torch.zeros_like(region)
    lesion[..., 3:5, 3:5, 3:5] = 1
    return region, lesion


def test_band_loss_is_zero_for_the_real_band_and_grows_with_a_halo():
    region, lesion = masks()
    target = torch.rand(2, 4, 8, 8, 8)
    available = torch.ones(2, 4, 1, 1, 1)
    assert band_loss(target, target, region, lesion, available) < 1e-3
    halo = target + 0.25 * region * (1 - lesion)
    assert 0.2 < band_loss(halo, target, region, lesion, available) < 0.3
    flat = target.clone()
    flat[(region * (1 - lesion)).expand_as(target) > 0] = 0.5  # right mean, no texture
    assert band_loss(flat, target, region, lesion, available) > 0.1


def test_missing_contrasts_cost_nothing():
    region, lesion = masks()
    target = torch.rand(2, 4, 8, 8, 8)
    prediction = target.clone()
    prediction[:, 2] += 1.0
    available = torch.ones(2, 4, 1, 1, 1)
    available[:, 2] = 0
    assert band_loss(prediction, target, region, lesion, available) < 1e-3
    assert lesion_weighted_l1(prediction, target, region, lesion, 5.0, available) < 1e-6


def test_mode_seeking_pushes_until_outputs_differ_enough():
    region, _ = masks()
    first_noise, second_noise = torch.randn(2, 1, 8, 8, 8), torch.randn(2, 1, 8, 8, 8)
    same = torch.rand(2, 4, 8, 8, 8)
    assert mode_seeking_loss(same, same, first_noise, second_noise, region, 0.05) == 0.05
    different = same + 0.2 * torch.randn_like(same)
    assert mode_seeking_loss(same, different, first_noise, second_noise, region, 0.05) == 0


def test_feature_matching_leaves_out_the_logits_and_is_zero_for_equal_features():
    features = [torch.rand(1, 4, 4, 4, 4), torch.rand(1, 8, 2, 2, 2), torch.rand(1, 1, 1, 1, 1)]
    assert feature_matching_loss(features, features) == 0
    logits_only = [*features[:-1], features[-1] + 1]
    assert feature_matching_loss(logits_only, features) == 0
