"""Model folders (generator weights + model card) and training checkpoints.

A model folder holds ``generator.safetensors`` (the generator's state dict) and
``model_card.json`` (what the weights expect and how they were made). Both are untrusted input:
weights load through safetensors (no code), the card is schema-checked, and training checkpoints
load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..core.errors import SynthPathologyError
from ..networks.pix2pix import ChannelLayout, NetworkConfig, build_generator
from ..pathologies import get_pathology

WEIGHTS_FILE = "generator.safetensors"
CARD_FILE = "model_card.json"
CARD_VERSION = 1


class ModelFileError(SynthPathologyError):
    """A model folder, card or checkpoint is missing, malformed or unsafe."""


@dataclass
class ModelCard:
    """What a generator expects and how it was made.

    Attributes:
        model_id: short name, e.g. "glioma_phantom_pix2pix".
        pathology: registered pathology name; its contrasts and labels define the channels.
        contrasts: contrast names in channel order.
        patch_size: generator patch (z, y, x) in voxels.
        spacing_mm: voxel spacing (x, y, z) the model was trained at, in mm.
        margin_mm: synthesis-region margin around the lesion, in mm.
        network: :class:`NetworkConfig` as a dict.
        normalization: how intensities were normalized (text, for people).
        training: data, command, steps, wall time, hardware (free-form, for people).
        metrics: validation metrics (free-form numbers, for people).
    """

    model_id: str
    pathology: str
    contrasts: list[str]
    patch_size: list[int]
    spacing_mm: list[float]
    margin_mm: float
    network: dict[str, Any]
    normalization: str = "each contrast divided by the 99.5th percentile of its brain voxels"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    card_version: int = CARD_VERSION

    def network_config(self) -> NetworkConfig:
        return NetworkConfig(**self.network)

    def layout(self) -> ChannelLayout:
        return ChannelLayout(len(self.contrasts), len(get_pathology(self.pathology).label_values))

    @classmethod
    def from_dict(cls, data: Any, source: str) -> "ModelCard":
        """Schema-check ``data`` (parsed JSON) and build the card; errors name ``source``."""
        _check_schema(data, source)
        card = cls(**data)
        get_pathology(card.pathology)
        try:
            card.network_config()
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: bad network settings ({exc})") from None
        return card


_FIELD_TYPES = {
    "model_id": str, "pathology": str, "contrasts": list, "patch_size": list, "spacing_mm": list,
    "margin_mm": (int, float), "network": dict, "normalization": str, "training": dict,
    "metrics": dict, "card_version": int,
}
_REQUIRED = ("model_id", "pathology", "contrasts", "patch_size", "spacing_mm", "margin_mm", "network")


def _check_schema(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise ModelFileError(f"{source}: a model card must be a JSON object")
    unknown = sorted(set(data) - set(_FIELD_TYPES))
    missing = [k for k in _REQUIRED if k not in data]
    if unknown or missing:
        raise ModelFileError(f"{source}: unknown fields {unknown}, missing fields {missing}")
    for key, value in data.items():
        if not isinstance(value, _FIELD_TYPES[key]) or isinstance(value, bool):
            raise ModelFileError(f"{source}: field {key!r} has the wrong type ({type(value).__name__})")
    if data.get("card_version", CARD_VERSION) != CARD_VERSION:
        raise ModelFileError(f"{source}: card version {data['card_version']} is not supported")
    if len(data["patch_size"]) != 3 or not all(isinstance(v, int) and v > 0 for v in data["patch_size"]):
        raise ModelFileError(f"{source}: patch_size must be three positive integers")
    if len(data["spacing_mm"]) != 3 or not all(isinstance(v, (int, float)) and v > 0 for v in data["spacing_mm"]):
        raise ModelFileError(f"{source}: spacing_mm must be three positive numbers")
    if not all(isinstance(c, str) for c in data["contrasts"]):
        raise ModelFileError(f"{source}: contrasts must be names")


@dataclass
class LoadedModel:
    """A generator ready for inference (eval mode, CPU) with its card and weights hash."""

    generator: torch.nn.Module
    card: ModelCard
    sha256: str
    folder: Path


def save_model(folder: str | Path, generator: torch.nn.Module, card: ModelCard) -> Path:
    """Write the generator's weights and card into ``folder`` (each file atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().float().cpu().contiguous() for k, v in generator.state_dict().items()}
    _atomic(folder / WEIGHTS_FILE, lambda tmp: save_file(weights, str(tmp)))
    _atomic(folder / CARD_FILE, lambda tmp: tmp.write_text(json.dumps(asdict(card), indent=2) + "\n", encoding="utf-8"))
    return folder


def load_model(folder: str | Path) -> LoadedModel:
    """Load a model folder; clear errors for a missing folder, a bad card or mismatched weights."""
    folder = Path(folder)
    card_path, weights_path = folder / CARD_FILE, folder / WEIGHTS_FILE
    for path in (card_path, weights_path):
        if not path.is_file():
            raise ModelFileError(f"{folder}: not a model folder (missing {path.name})")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{card_path}: not valid JSON ({exc})") from None
    card = ModelCard.from_dict(data, str(card_path))
    generator = build_generator(card.network_config(), card.layout())
    try:
        state = load_file(str(weights_path))
        generator.load_state_dict(state)
    except Exception as exc:  # safetensors and load_state_dict raise several types
        raise ModelFileError(f"{weights_path}: weights do not fit the model card ({_short(exc)})") from None
    return LoadedModel(generator.eval(), card, file_sha256(weights_path), folder)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training checkpoint (tensors, numbers, strings, lists and dicts only) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _atomic(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint without executing code (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError(
            f"{path}: refused: the checkpoint holds objects other than tensors and plain data "
            f"({_short(exc)})"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ModelFileError(f"{path}: corrupt or truncated checkpoint ({_short(exc)})") from None


def _atomic(path: Path, write) -> Path:
    tmp = path.with_name(f".{path.name}.partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("..." if len(text) > 200 else "")
