"""The evaluation segmenter's model folder: ``segmenter.safetensors`` beside ``model_card.json``
(:class:`SegmenterCard`), read and written through :mod:`.card`. The network itself and inference
live in :mod:`SynthPathologyLib.evaluation.segmenter`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..evaluation.overlap import evaluation_regions
from .card import Card, ModelFileError


@dataclass(kw_only=True)
class SegmenterCard(Card):
    """What a segmenter expects and how it was made (see :class:`~.card.Card` for the shared
    fields; ``patch_size`` is also the sliding-window size).

    Attributes:
        feature_crop: side in voxels of the lesion-centred crop whose features feed FID/KID.
        init_filters: SegResNet's first-level channels (doubled per level).
        blocks_down: SegResNet's residual blocks per encoder level.
    """

    weights_file: ClassVar[str] = "segmenter.safetensors"

    feature_crop: int
    init_filters: int
    blocks_down: list[int]

    @property
    def regions(self) -> dict[str, tuple[int, ...]]:
        """Output channels: region name -> label values (glioma: WT, TC, ET)."""
        return evaluation_regions(self.pathology)

    def check(self, source: str) -> None:
        super().check(source)
        if not self.blocks_down or min(self.blocks_down) <= 0:
            raise ModelFileError(f"{source}: blocks_down must be some positive integers")
        if self.feature_crop < 8 or self.init_filters < 1:
            raise ModelFileError(f"{source}: feature_crop must be >= 8 and init_filters >= 1")
