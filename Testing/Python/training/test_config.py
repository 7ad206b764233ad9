"""Training settings: the defaults (no ``--config``) are the shipped default model's recipe."""

from __future__ import annotations

from pathlib import Path

import yaml

from SynthPathologyLib.training.config import TrainConfig

DEFAULT_RECIPE = Path(__file__).resolve().parents[3] / "Resources" / "Training" / "glioma_phantom.yaml"


def test_defaults_equal_the_shipped_models_recipe():
    recipe = yaml.safe_load(DEFAULT_RECIPE.read_text(encoding="utf-8"))
    defaults = TrainConfig().to_dict()
    network = recipe.pop("network")
    assert {key: defaults[key] for key in recipe} == recipe
    assert {key: defaults["network"][key] for key in network} == network
