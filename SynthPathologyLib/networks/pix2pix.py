"""The 3D Pix2Pix networks, built from MONAI.

Inpainting form: the generator sees a patch's contrasts with the synthesis region blanked, the
lesion label one-hot, the region mask and a noise channel, and outputs the patch's contrasts.
The discriminator is a 3D PatchGAN on (condition, image).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from monai.networks.nets import PatchDiscriminator, UNet


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the generator and discriminator.

    Attributes:
        channels: generator U-Net feature channels per level; ``len(strides) + 1`` levels.
        strides: generator down-sampling factor per level; a patch side must be divisible by
            their product.
        num_res_units: residual units per U-Net block (0 = plain convolutions; fastest on CPU).
        discriminator_channels: channels of the PatchGAN's first layer (doubled per layer).
        discriminator_layers: PatchGAN down-sampling layers (receptive field grows with them).
    """

    channels: tuple[int, ...] = (32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 0
    discriminator_channels: int = 32
    discriminator_layers: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        if len(self.channels) != len(self.strides) + 1:
            raise ValueError(f"need len(channels) == len(strides) + 1, got {self.channels} and {self.strides}")

    @property
    def patch_multiple(self) -> int:
        """Patch sides must be multiples of this (the U-Net's total down-sampling)."""
        total = 1
        for stride in self.strides:
            total *= stride
        return total

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ChannelLayout:
    """Channels for a pathology with ``n_contrasts`` contrasts and ``n_labels`` non-background
    label values.

    Generator input, in order: blanked contrasts (n_contrasts), lesion one-hot (n_labels),
    region mask (1), noise (1). Output: contrasts (n_contrasts).
    """

    n_contrasts: int
    n_labels: int

    @property
    def condition_channels(self) -> int:
        return self.n_contrasts + self.n_labels + 2


def build_generator(config: NetworkConfig, layout: ChannelLayout) -> torch.nn.Module:
    """MONAI U-Net: (B, condition_channels, D, H, W) -> (B, n_contrasts, D, H, W), values in
    the normalized intensity range (linear output; see :mod:`SynthPathologyLib.normalization`)."""
    return UNet(
        spatial_dims=3,
        in_channels=layout.condition_channels,
        out_channels=layout.n_contrasts,
        channels=config.channels,
        strides=config.strides,
        num_res_units=config.num_res_units,
        norm="INSTANCE",
    )


def build_discriminator(config: NetworkConfig, layout: ChannelLayout) -> torch.nn.Module:
    """MONAI PatchGAN on the concatenated (condition, image): (B, condition + n_contrasts, D, H, W)
    -> list of intermediate features, the last being the patch logits (B, 1, d, h, w)."""
    return PatchDiscriminator(
        spatial_dims=3,
        channels=config.discriminator_channels,
        in_channels=layout.condition_channels + layout.n_contrasts,
        out_channels=1,
        num_layers_d=config.discriminator_layers,
        norm="INSTANCE",
    )
