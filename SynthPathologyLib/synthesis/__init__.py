"""Inference: painting a lesion into a case, or removing one, with a trained generator.

Modules: :mod:`.synthesizer` (crop, normalize, generate, blend back) and :mod:`.region` (the
synthesis region and its blending weights).
"""
