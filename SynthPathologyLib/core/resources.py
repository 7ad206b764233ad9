"""Where the extension's resources are: ``Resources/`` beside the library folder.

That holds in a source checkout (``<repo>/Resources``), in an editable install, and in a built
Slicer extension, whose build copies the library and ``Resources/`` side by side into the
scripted-modules folder.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parents[2] / "Resources"


def resource_path(relative: str) -> Path:
    """``Resources/<relative>``, e.g. ``resource_path("UI/SynthPathology.ui")``."""
    return RESOURCES_DIR / relative
