"""Installs stay green: the requirements the Slicer module installs inside Slicer are those of
pyproject.toml, every range has an upper bound, and constraints.txt pins every requirement at a
version inside its range, which the README's test command (and so CI) installs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

from SynthPathologyLib.core.dependencies import REQUIREMENTS, import_optional, missing_requirements, torch_missing
from SynthPathologyLib.core.errors import SynthPathologyError

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in project["dependencies"] + extras]


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_slicer_requirements_match_pyproject():
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    without_torch = [r for r in declared if not r.startswith("torch")]
    assert sorted(REQUIREMENTS.values()) == sorted(without_torch)


def test_nothing_is_missing_in_the_test_environment():
    assert missing_requirements() == [] and not torch_missing()


def test_every_requirement_is_bounded_above():
    for requirement in declared_requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert operators & {"<", "<=", "==", "~="}, f"{requirement} has no upper bound"


def test_constraints_pin_every_requirement_inside_its_range():
    pins = pinned_versions()
    for requirement in declared_requirements():
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"constraints.txt pins {name}=={pins[name]}, outside {requirement}"


def test_ci_runs_the_readme_test_command_with_the_constraints():
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command in (ROOT / "README.md").read_text()
    assert "-c constraints.txt" in command and "python3 -m pytest" in command


def test_a_missing_optional_package_names_the_extra_that_installs_it():
    assert import_optional("json", "evaluation").dumps([]) == "[]"
    with pytest.raises(SynthPathologyError, match=r"pip install 'SynthPathologyLib\[evaluation\]'"):
        import_optional("no_such_module_here", "evaluation")
