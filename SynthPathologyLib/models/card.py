"""One model folder for every model the project ships or trains: the weights as safetensors beside
``model_card.json``, a card whose dataclass fields are its JSON schema.

Both files are untrusted input: the card is schema-checked against the fields' type annotations
(unknown and missing fields, types, ``bool`` is not a number, the card version), then by the
subclass's own :meth:`Card.check`; weights load through safetensors, which runs no code. Every
error is a one-line :class:`ModelFileError` naming the file. Both files are written with the one
fsynced atomic writer, so a crash leaves the old folder or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

import torch
from safetensors.torch import load_file, save

from ..core.durable import atomic_write_bytes, read_json
from ..core.errors import SynthPathologyError
from ..pathologies import get_pathology

CARD_FILE = "model_card.json"
CARD_VERSION = 1
# The card's free-form history is written last, so that a person reads the settings first.
_HISTORY = ("training", "metrics", "card_version")


class ModelFileError(SynthPathologyError):
    """A model folder, card or checkpoint is missing, malformed or unsafe."""


@dataclass(kw_only=True)
class Card:
    """What every model expects and how it was made; subclasses add their settings as fields and
    their own checks in :meth:`check`.

    Attributes:
        model_id: short name, e.g. "glioma_phantom_pix2pix".
        pathology: registered pathology name; its contrasts and labels define the channels.
        contrasts: contrast names in input channel order.
        patch_size: network patch (z, y, x) in voxels.
        spacing_mm: voxel spacing (x, y, z) the network works at, in mm.
        training: data, command, steps, wall time, hardware (free-form, for people).
        metrics: validation metrics (free-form numbers, for people).
    """

    weights_file: ClassVar[str]

    model_id: str
    pathology: str
    contrasts: list[str]
    patch_size: list[int]
    spacing_mm: list[float]
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    card_version: int = CARD_VERSION

    def check(self, source: str) -> None:
        """Checks beyond the types; raise :class:`ModelFileError` naming ``source``. Subclasses
        extend this (calling ``super().check``)."""
        if self.card_version != CARD_VERSION:
            raise ModelFileError(f"{source}: card version {self.card_version} is not supported")
        if len(self.patch_size) != 3 or min(self.patch_size) <= 0:
            raise ModelFileError(f"{source}: patch_size must be three positive integers")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            raise ModelFileError(f"{source}: spacing_mm must be three positive numbers")
        try:
            get_pathology(self.pathology)
        except SynthPathologyError as exc:
            raise ModelFileError(f"{source}: {exc}") from None

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        ordered = {**{k: v for k, v in data.items() if k not in _HISTORY}, **{k: data[k] for k in _HISTORY}}
        return json.dumps(ordered, indent=2) + "\n"


CardT = TypeVar("CardT", bound=Card)


def card_from_dict(card_type: type[CardT], data: Any, source: str) -> CardT:
    """Schema-check ``data`` (parsed JSON) against ``card_type``'s fields and build the card;
    errors name ``source``. Fields with a default may be left out."""
    if not isinstance(data, dict):
        raise ModelFileError(f"{source}: a model card must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(card_type)}
    required = {name for name, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    unknown, missing = sorted(set(data) - set(fields)), sorted(required - set(data))
    if unknown or missing:
        raise ModelFileError(f"{source}: unknown fields {unknown}, missing fields {missing}")
    hints = get_type_hints(card_type)
    for key, value in data.items():
        if not _fits(value, hints[key]):
            raise ModelFileError(f"{source}: field {key!r} has the wrong type "
                                 f"({type(value).__name__}; expected {_name(hints[key])})")
    card = card_type(**data)
    card.check(source)
    return card


def _fits(value: Any, annotation: Any) -> bool:
    """Whether JSON ``value`` fits a card field's annotation: str, int, float (an int is a number),
    list[...] (each item), dict[str, Any]; a bool is never a number."""
    origin = get_origin(annotation)
    if origin is list:
        return isinstance(value, list) and all(_fits(item, get_args(annotation)[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is Any:
        return True
    if isinstance(value, bool):
        return annotation is bool
    return isinstance(value, (int, float) if annotation is float else annotation)


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) if get_origin(annotation) is None else str(annotation)


def save_model(folder: str | Path, network: torch.nn.Module, card: Card) -> Path:
    """Write ``network``'s weights (float32 safetensors) and ``card`` into ``folder``, each file
    atomically and fsynced."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().float().cpu().contiguous() for k, v in network.state_dict().items()}
    atomic_write_bytes(folder / card.weights_file, save(weights))
    atomic_write_bytes(folder / CARD_FILE, card.to_json().encode("utf-8"))
    return folder


def read_card(folder: str | Path, card_type: type[CardT]) -> CardT:
    """The checked card of the model folder ``folder``, which must also hold the weights file."""
    folder = Path(folder)
    for name in (CARD_FILE, card_type.weights_file):
        if not (folder / name).is_file():
            raise ModelFileError(f"{folder}: not a model folder (missing {name})")
    return card_from_dict(card_type, read_json(folder / CARD_FILE, ModelFileError), str(folder / CARD_FILE))


def load_weights(folder: str | Path, network: torch.nn.Module, card: Card) -> str:
    """Load the folder's weights into ``network`` (built from ``card``) and put it in eval mode;
    returns the weights file's SHA-256 (hex)."""
    path = Path(folder) / card.weights_file
    try:
        network.load_state_dict(load_file(str(path)))
    except Exception as exc:  # safetensors and load_state_dict raise several types
        raise ModelFileError(f"{path}: weights do not fit the model card ({short_error(exc)})") from None
    network.eval()
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def short_error(exc: Exception) -> str:
    """``exc``'s message on one line, at most about 200 characters."""
    text = " ".join(str(exc).split())
    return text[:200] + ("..." if len(text) > 200 else "")
