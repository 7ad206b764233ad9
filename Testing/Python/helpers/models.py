"""A tiny, untrained but real MONAI generator saved as a model folder, a throwaway pathology to
save one for, and a seed point inside a phantom brain: what the synthesis, command-line and
evaluation tests share."""

from __future__ import annotations

from dataclasses import replace

import torch

from SynthPathologyLib import pathologies
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.models.card import save_model
from SynthPathologyLib.models.generator import ModelCard
from SynthPathologyLib.networks.pix2pix import ChannelLayout, NetworkConfig, build_generator
from SynthPathologyLib.pathologies.glioma import GLIOMA

TINY = NetworkConfig(channels=(4, 8, 16), strides=(2, 2))


def save_tiny_model(folder, spacing=(2.0, 2.0, 2.0), patch=(32, 32, 32), pathology="glioma"):
    """Write a model folder holding a small untrained generator (seeded weights) for the registered
    ``pathology`` (one label channel per label value)."""
    torch.manual_seed(0)
    card = ModelCard(model_id="tiny", pathology=pathology, contrasts=["t1", "t1c", "t2", "flair"],
                     patch_size=list(patch), spacing_mm=list(spacing), margin_mm=4.0,
                     network={"channels": list(TINY.channels), "strides": list(TINY.strides)})
    generator = build_generator(TINY, ChannelLayout(4, len(pathologies.get_pathology(pathology).label_values)))
    return save_model(folder, generator, card)


def register_other_pathology(monkeypatch, name: str = "testoma") -> str:
    """Register, for one test (``monkeypatch`` removes it), a pathology shaped like glioma under
    another name; returns the name."""
    monkeypatch.setitem(pathologies._REGISTRY, name, replace(
        GLIOMA, name=name, display_name="Test pathology", description="A glioma under another name, for tests.",
        default_model=f"{name}_model"))
    return name


def seed_in_white_matter(case: Case) -> tuple[float, float, float]:
    """A brain point well inside the left hemisphere (LPS mm)."""
    return case.reference.TransformContinuousIndexToPhysicalPoint(
        [s / 2 + d for s, d in zip(case.reference.GetSize(), (12 / 2, 0, 10 / 2))])
