"""Generator v2: resize-convolution up-sampling without a 2-voxel grid, noise that matters and stays
deterministic through MONAI's sliding-window inference, any subset of contrasts; v1 cards still build."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from SynthPathologyLib.evaluation.artifacts import checkerboard_energy
from SynthPathologyLib.networks.conditioning import build_condition
from SynthPathologyLib.networks.pix2pix import ChannelLayout, NetworkConfig, build_discriminator, build_generator

V2 = NetworkConfig(channels=(8, 16, 32), strides=(2, 2), architecture="resize_unet")
LAYOUT = ChannelLayout(4, 3)


def smooth_condition(available=(True, True, True, True), seed: int = 0, size: int = 32) -> np.ndarray:
    """A condition with smooth contrasts (a sum of ramps and a low-frequency wave), a spherical
    region, an empty label and seeded noise."""
    axes = np.meshgrid(*(np.linspace(0, 1, size, dtype=np.float32),) * 3, indexing="ij")
    image = np.stack([0.5 + 0.2 * np.sin(3 * axes[0] + c) * np.cos(2 * axes[1]) + 0.1 * axes[2] for c in range(4)])
    region = sum((a - 0.5) ** 2 for a in axes) < 0.1
    noise = np.random.default_rng(seed).standard_normal(region.shape, dtype=np.float32)
    return build_condition(image, np.zeros(region.shape, np.uint8), region, (1, 2, 3), noise, available)


def run(generator: torch.nn.Module, condition: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return generator(torch.from_numpy(condition)[None])[0].numpy()


def test_v2_takes_availability_channels_and_returns_every_contrast():
    torch.manual_seed(0)
    generator = build_generator(V2, LAYOUT).eval()
    condition = smooth_condition(available=(False, True, False, True))
    assert condition.shape[0] == 4 + 4 + 3 + 2
    assert (condition[0] == 0).all() and (condition[4] == 0).all() and (condition[5] == 1).all()
    assert run(generator, condition).shape == (4, 32, 32, 32)
    discriminator = build_discriminator(V2, LAYOUT)
    assert discriminator(torch.zeros(1, 13 + 4, 32, 32, 32))[-1].shape[1] == 1


def test_v2_output_has_no_two_voxel_grid_where_v1_has_one():
    """Untrained, on smooth input: resize-convolution leaves a fraction of v1's checkerboard energy."""
    energies = {}
    for name, config in {"v1": NetworkConfig(channels=(8, 16, 32), strides=(2, 2)), "v2": V2}.items():
        torch.manual_seed(0)
        generator = build_generator(config, LAYOUT).eval()
        condition = smooth_condition(available=(True,) * 4 if config.any_contrasts else None)
        output = run(generator, condition)
        energies[name] = np.mean([checkerboard_energy(o, np.ones(o.shape, bool)) / np.var(o) for o in output])
    assert energies["v2"] < 0.1 * energies["v1"]


def test_noise_changes_the_output_and_is_deterministic_through_sliding_windows():
    torch.manual_seed(0)
    generator = build_generator(V2, LAYOUT).eval()

    def windows(condition: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return sliding_window_inference(torch.from_numpy(condition)[None], (16, 16, 16), 2, generator,
                                            overlap=0.25, mode="gaussian")[0].numpy()

    first, again, other = (windows(smooth_condition(seed=s)) for s in (1, 1, 2))
    np.testing.assert_array_equal(first, again)
    region = smooth_condition()[-2] > 0
    assert np.abs(first - other)[:, region].mean() > 1e-3


def test_cards_without_an_architecture_build_the_v1_unet():
    config = NetworkConfig(**{"channels": [4, 8, 16], "strides": [2, 2]})
    assert config.architecture == "unet" and not config.any_contrasts
    generator = build_generator(config, LAYOUT)
    assert type(generator).__name__ == "UNet"
    assert generator(torch.zeros(1, LAYOUT.condition_channels, 16, 16, 16)).shape == (1, 4, 16, 16, 16)


@pytest.mark.parametrize("settings, message", [
    ({"architecture": "gan"}, "architecture must be one of"),
    ({"architecture": "resize_unet", "channels": [4, 8, 16], "strides": [2, 3]}, "down-samples by 2"),
])
def test_bad_network_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**settings)
