"""Datasets on disk: the BraTS folder layout (2021 and 2023 naming), ``synthpathology info``
summaries, and montage figures of cases.

Modules: :mod:`.brats`, :mod:`.info`, :mod:`.montage`.
"""
