"""Training checkpoints: tensors and plain data saved with ``torch.save`` (atomically, fsynced) and
loaded with ``torch.load(weights_only=True)``, which refuses pickled code."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from ..core.durable import atomic_write_bytes
from .card import ModelFileError, short_error


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training checkpoint (tensors, numbers, strings, lists and dicts only) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


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
            f"({short_error(exc)})"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ModelFileError(f"{path}: corrupt or truncated checkpoint ({short_error(exc)})") from None
