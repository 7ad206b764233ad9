"""Generator v2: a U-Net that up-samples by resize-convolution and injects noise at every decoder scale.

Why this shape (lessons of the v1 MONAI ``UNet`` generator):

- Up-sampling is trilinear interpolation followed by an ordinary convolution (MONAI ``UpSample``
  "nontrainable" + ``Convolution``): transposed and sub-pixel convolutions without ICNR
  initialization leave a 2-voxel checkerboard; an interpolation spreads every voxel evenly.
- The noise is read from the condition's last channel (standard normal inside the synthesis
  region, see :mod:`.conditioning`) and injected at every decoder scale (StyleGAN-style): the noise
  map, average-pooled to the scale and rescaled to unit variance, is added to the features with a
  learned strength per channel. Because the noise is part of the input tensor it is deterministic
  for a random seed and MONAI's sliding-window inference crops it like any other channel.
- No noise at full resolution: white noise injected there (or handed to the last convolution
  with the condition) passes straight to the output as voxel-scale grain, which real lesions,
  smooth after BraTS preprocessing, do not have (glioma_real_v2's measured checkerboard index fell
  from 68-297 to 13-72 with those paths off). The finest noise is at half resolution.
- The last convolution sees the full-resolution condition (without its noise channel) beside the
  decoder's features, so the context around the region reaches the output without being
  down-sampled.

Shapes: (B, in_channels, D, H, W) -> (B, out_channels, D, H, W); D, H, W multiples of
``2 ** (len(channels) - 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution, UpSample

ACTIVATION = ("LEAKYRELU", {"negative_slope": 0.2})


class NoiseInjection(torch.nn.Module):
    """``features + strength * noise``: one noise map (B, 1, d, h, w) broadcast over the channels,
    with a learned strength per channel (initialized small so that training decides how much)."""

    def __init__(self, channels: int, initial_strength: float = 0.1):
        super().__init__()
        self.strength = torch.nn.Parameter(torch.full((1, channels, 1, 1, 1), float(initial_strength)))

    def forward(self, features: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return features + self.strength.to(features.dtype) * noise.to(features.dtype)


def noise_at_scale(noise: torch.Tensor, factor: int) -> torch.Tensor:
    """``noise`` (B, 1, D, H, W) average-pooled by ``factor`` per axis and multiplied by
    ``factor ** 1.5`` (the pooled mean of ``factor ** 3`` unit normals has variance 1 / factor ** 3),
    so every scale gets unit-variance noise where the region is."""
    if factor == 1:
        return noise
    # In float32: CPU average pooling has no bfloat16 kernel (a model cast to bf16 gets bf16 noise).
    return (F.avg_pool3d(noise.float(), factor) * factor**1.5).to(noise.dtype)


class ResizeUNet(torch.nn.Module):
    """The v2 generator.

    Args:
        in_channels: condition channels; the last one is the noise channel.
        out_channels: output contrasts.
        channels: feature channels per level (the first level works at half resolution: each
            encoder convolution has stride 2, as in MONAI's ``UNet``).
        noise_strength: initial per-channel noise strength of every injection.
    """

    def __init__(self, in_channels: int, out_channels: int, channels: Sequence[int] = (16, 32, 64, 128),
                 noise_strength: float = 0.1):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError(f"ResizeUNet needs at least 2 levels, got channels={channels}")
        self.levels = len(channels) - 1

        def conv(cin: int, cout: int, stride: int = 1) -> Convolution:
            return Convolution(3, cin, cout, strides=stride, kernel_size=3, act=ACTIVATION, norm="INSTANCE")

        encoder_in = (in_channels, *channels[:-2])
        self.encoder = torch.nn.ModuleList(conv(cin, cout, 2) for cin, cout in zip(encoder_in, channels[:-1]))
        self.bottom = conv(channels[-2], channels[-1])
        # Decoder level i (deepest first) works at 1 / 2 ** (i + 1) of the input's resolution: it
        # merges the features from below with the encoder's skip there, adds noise and up-samples.
        self.decoder = torch.nn.ModuleList()
        self.noise = torch.nn.ModuleList()
        below = channels[-1]
        for level in reversed(range(self.levels)):
            self.decoder.append(conv(below + channels[level], channels[level]))
            self.noise.append(NoiseInjection(channels[level], noise_strength))
            below = channels[level]
        self.up = UpSample(3, scale_factor=2, mode="nontrainable", interp_mode="trilinear", align_corners=False)
        # Resize-convolution's convolution at full resolution, with the condition beside the features.
        self.head = Convolution(3, channels[0] + in_channels - 1, out_channels, kernel_size=3, conv_only=True)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        noise = condition[:, -1:]
        skips = []
        x = condition
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        x = self.bottom(x)
        for i, (decode, inject) in enumerate(zip(self.decoder, self.noise)):
            level = self.levels - 1 - i
            x = inject(decode(torch.cat([x, skips[level]], 1)), noise_at_scale(noise, 2 ** (level + 1)))
            x = self.up(x)
        return self.head(torch.cat([x, condition[:, :-1].to(x.dtype)], 1))
