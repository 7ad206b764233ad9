"""The 3D Pix2Pix networks (MONAI), their conditioning input and their losses.

Modules: :mod:`.pix2pix` (generator and PatchGAN discriminator), :mod:`.conditioning` (what the
generator sees), :mod:`.losses`, :mod:`.subpixel` (an exact, faster form of transposed
convolutions for inference).
"""
