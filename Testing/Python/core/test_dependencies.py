"""The requirements the Slicer module installs inside Slicer are those of pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import tomllib

from SynthPathologyLib.core.dependencies import REQUIREMENTS, missing_requirements, torch_missing

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_slicer_requirements_match_pyproject():
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    without_torch = [r for r in declared if not r.startswith("torch")]
    assert sorted(REQUIREMENTS.values()) == sorted(without_torch)


def test_nothing_is_missing_in_the_test_environment():
    assert missing_requirements() == [] and not torch_missing()
