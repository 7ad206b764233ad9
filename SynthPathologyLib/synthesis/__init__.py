"""Inference: painting a lesion into a case, or removing one, with a trained generator.

Modules: :mod:`.synthesizer` (crop, normalize, generate, blend back), :mod:`.region` (the
synthesis region and its blending weights) and :mod:`.session` (what a front end keeps between
runs: loaded models, the last prepared case).
"""
