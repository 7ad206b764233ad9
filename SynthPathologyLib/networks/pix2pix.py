"""The 3D Pix2Pix networks, built from MONAI.

Inpainting form: the generator sees a patch's contrasts with the synthesis region blanked (v2:
plus one availability channel per contrast), the lesion label one-hot, the region mask and a
noise channel, and outputs the patch's contrasts. The discriminator is a 3D PatchGAN on
(condition, image).

Two generator architectures, named in the model card's ``network.architecture``: "unet" (v1,
MONAI ``UNet``, transposed-convolution up-sampling, every contrast required) and "resize_unet"
(v2, :class:`~.resize_unet.ResizeUNet`: resize-convolution, multi-scale noise, any non-empty
subset of contrasts through the availability channels). A card without the field is v1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from monai.networks.nets import PatchDiscriminator, UNet

from .resize_unet import ResizeUNet

ARCHITECTURES = ("unet", "resize_unet")


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
        architecture: "unet" (v1) or "resize_unet" (v2; its strides must all be 2).
    """

    channels: tuple[int, ...] = (32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 0
    discriminator_channels: int = 32
    discriminator_layers: int = 3
    architecture: str = "unet"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        if len(self.channels) != len(self.strides) + 1:
            raise ValueError(f"need len(channels) == len(strides) + 1, got {self.channels} and {self.strides}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.architecture == "resize_unet" and set(self.strides) != {2}:
            raise ValueError(f"resize_unet down-samples by 2 per level, got strides {self.strides}")

    @property
    def any_contrasts(self) -> bool:
        """Whether the generator takes availability channels (serves any subset of contrasts)."""
        return self.architecture == "resize_unet"

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

    Generator input, in order: blanked contrasts (n_contrasts), with ``availability`` one
    channel per contrast (1 where the case has it, else 0), lesion one-hot (n_labels), region
    mask (1), noise (1). Output: contrasts (n_contrasts).
    """

    n_contrasts: int
    n_labels: int
    availability: bool = False

    @property
    def condition_channels(self) -> int:
        return self.n_contrasts * (2 if self.availability else 1) + self.n_labels + 2


def network_layout(config: NetworkConfig, layout: ChannelLayout) -> ChannelLayout:
    """``layout`` with the availability channels ``config``'s architecture takes."""
    return ChannelLayout(layout.n_contrasts, layout.n_labels, config.any_contrasts)


def build_generator(config: NetworkConfig, layout: ChannelLayout) -> torch.nn.Module:
    """The generator of ``config.architecture``: (B, condition_channels, D, H, W) -> (B, n_contrasts,
    D, H, W), values in the normalized intensity range (linear output; see :mod:`.conditioning`).
    The layout's availability channels follow the architecture (:func:`network_layout`)."""
    layout = network_layout(config, layout)
    if config.architecture == "resize_unet":
        return ResizeUNet(layout.condition_channels, layout.n_contrasts, config.channels)
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
    layout = network_layout(config, layout)
    return PatchDiscriminator(
        spatial_dims=3,
        channels=config.discriminator_channels,
        in_channels=layout.condition_channels + layout.n_contrasts,
        out_channels=1,
        num_layers_d=config.discriminator_layers,
        norm="INSTANCE",
    )
