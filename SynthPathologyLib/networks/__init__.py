"""The 3D Pix2Pix networks (MONAI), their conditioning input and their losses.

Modules: :mod:`.pix2pix` (network settings, generator and PatchGAN discriminator builders),
:mod:`.resize_unet` (generator v2: resize-convolution, multi-scale noise, any subset of contrasts),
:mod:`.conditioning` (what the generator sees), :mod:`.losses`, :mod:`.subpixel` (an exact, faster
form of the v1 generator's transposed convolutions for inference).
"""
