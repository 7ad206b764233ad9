"""Datasets on disk: the BraTS folder layout (2021 and 2023 naming), writing datasets whose case
folders appear whole and whose runs resume, ``synthpathology info`` summaries, and montage figures
of cases.

Modules: :mod:`.brats`, :mod:`.dataset_writer`, :mod:`.info`, :mod:`.montage`.
"""
