"""The ``synthpathology pathologies`` command: the registered pathologies, as text or JSON.

Reads only the pure-data registry (:mod:`SynthPathologyLib.pathologies`), so it loads no model.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from ..pathologies import LabelInfo, Pathology, contrast_title, get_pathology, pathology_names
from .options import add_command


def _summary(pathology: Pathology) -> dict[str, Any]:
    """What ``--json`` prints of ``pathology``: name, labels (value, names, region, RGB color in [0, 1]),
    contrasts, default model and description."""
    return {
        "name": pathology.name,
        "display_name": pathology.display_name,
        "description": pathology.description,
        "labels": [asdict(label) for label in pathology.labels],
        "contrasts": list(pathology.contrasts),
        "default_model": pathology.default_model,
    }


def _hex_color(label: LabelInfo) -> str:
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in label.color)


def _text_lines(pathology: Pathology) -> list[str]:
    """The plain-text listing of ``pathology``: a title line, then its labels, contrasts and default model."""
    return [
        f"{pathology.name}: {pathology.display_name} - {pathology.description}",
        "  labels:",
        *(f"    {label.value} {label.abbreviation:<4} {label.name} ({_hex_color(label)})" for label in pathology.labels),
        f"  contrasts: {', '.join(contrast_title(c) for c in pathology.contrasts)}",
        f"  default model: {pathology.default_model}",
    ]


def cmd_pathologies(args: argparse.Namespace) -> int:
    """List each registered pathology: its label values with names and display colors, the contrasts its
    models expect, its default model and a one-line description."""
    pathologies = [get_pathology(name) for name in pathology_names()]
    if args.json:
        print(json.dumps([_summary(p) for p in pathologies], indent=2))
        return 0
    for pathology in pathologies:
        print("\n".join(_text_lines(pathology)))
    return 0


def add_pathologies_command(commands: argparse._SubParsersAction) -> None:
    """Add ``pathologies`` to the top-level subcommands of ``synthpathology``."""
    parser = add_command(commands, "pathologies", cmd_pathologies,
                         help="list the registered pathologies: labels, contrasts, default model")
    parser.add_argument("--json", action="store_true", help="print JSON (a list, one object per pathology)")
