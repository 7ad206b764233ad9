"""The sub-pixel form of transposed convolutions computes what the trained layers compute."""

from __future__ import annotations

import copy

import pytest
import torch

from SynthPathologyLib.networks.pix2pix import ChannelLayout, NetworkConfig, build_generator
from SynthPathologyLib.networks.subpixel import SubPixelConv3d, subpixel_from_transposed, with_subpixel_upsampling


@pytest.mark.parametrize("kernel, padding, output_padding, bias", [
    (3, 1, 1, True),   # MONAI U-Net up-sampling
    (3, 1, 1, False),
    (4, 1, 0, True),
    (2, 0, 0, True),
])
def test_subpixel_form_equals_the_transposed_convolution(kernel, padding, output_padding, bias):
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose3d(6, 3, kernel, stride=2, padding=padding, output_padding=output_padding, bias=bias)
    x = torch.randn(2, 6, 5, 7, 4)
    with torch.no_grad():
        expected = layer(x)
        actual = subpixel_from_transposed(layer)(x)
    assert actual.shape == expected.shape == (2, 3, 10, 14, 8)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_layers_the_subpixel_form_cannot_express_are_refused():
    with pytest.raises(ValueError, match="dilation"):
        subpixel_from_transposed(torch.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1, dilation=2))
    with pytest.raises(ValueError, match="same stride"):
        subpixel_from_transposed(torch.nn.ConvTranspose3d(4, 2, (3, 3, 1), stride=2, padding=1, output_padding=1))


def test_generator_in_subpixel_form_gives_the_same_output():
    torch.manual_seed(0)
    layout = ChannelLayout(4, 3)
    generator = build_generator(NetworkConfig(), layout).eval()
    fast = with_subpixel_upsampling(copy.deepcopy(generator), max_out_channels=15)
    kinds = [type(m) for m in fast.modules()]
    assert kinds.count(SubPixelConv3d) == 1 and kinds.count(torch.nn.ConvTranspose3d) == 2  # only the 32 -> 4 layer
    x = torch.randn(1, layout.condition_channels, 32, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), generator(x), rtol=0, atol=1e-4)
