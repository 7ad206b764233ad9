"""The generator's model folder: ``generator.safetensors`` (the generator's state dict) beside
``model_card.json`` (:class:`ModelCard`: what the weights expect and how they were made), read
through :mod:`.card` and written with :func:`.card.save_model`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..networks.pix2pix import ChannelLayout, NetworkConfig, build_generator
from ..pathologies import get_pathology
from .card import Card, ModelFileError, load_weights, read_card


@dataclass(kw_only=True)
class ModelCard(Card):
    """What a generator expects and how it was made (see :class:`~.card.Card` for the shared fields).

    Attributes:
        margin_mm: synthesis-region margin around the lesion, in mm.
        network: :class:`NetworkConfig` as a dict.
        normalization: how intensities were normalized (text, for people).
    """

    weights_file: ClassVar[str] = "generator.safetensors"

    margin_mm: float
    network: dict[str, Any]
    normalization: str = "each contrast divided by the 99.5th percentile of its brain voxels"

    def network_config(self) -> NetworkConfig:
        return NetworkConfig(**self.network)

    def layout(self) -> ChannelLayout:
        return ChannelLayout(len(self.contrasts), len(get_pathology(self.pathology).label_values))

    def check(self, source: str) -> None:
        super().check(source)
        try:
            self.network_config()
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: bad network settings ({exc})") from None


@dataclass
class LoadedModel:
    """A generator ready for inference (eval mode, CPU) with its card and weights hash."""

    generator: torch.nn.Module
    card: ModelCard
    sha256: str
    folder: Path


def load_model(folder: str | Path) -> LoadedModel:
    """Load a generator folder; one-line errors for a missing folder, a bad card or mismatched weights."""
    card = read_card(folder, ModelCard)
    generator = build_generator(card.network_config(), card.layout())
    return LoadedModel(generator, card, load_weights(folder, generator, card), Path(folder))
