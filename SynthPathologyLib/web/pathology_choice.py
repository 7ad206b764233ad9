"""Lesion mode's pathology chooser: the choices, the page state that follows the chosen pathology
(label legend, which composition sliders apply, the composition's defaults, seed sizes in its
range) and the pathology the app opens with.

Everything comes from the registry (:mod:`SynthPathologyLib.pathologies`): a pathology registered
there shows up in the page with its labels, colours and defaults, without a change here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.errors import SynthPathologyError
from ..lesions.spec import Composition
from ..models.card import read_card
from ..models.generator import ModelCard
from ..pathologies import get_pathology, pathology_names
from ..synthesis.synthesizer import default_model_path
from .lesion_state import DIAMETER_KEYS, SLIDERS

DEFAULT_PATHOLOGY = "glioma"


def pathology_choices() -> list[dict]:
    """The chooser's items: each registered pathology's name (what the page sends back, checked
    against the registry) and display name (what the user reads)."""
    return [{"value": name, "title": get_pathology(name).display_name} for name in pathology_names()]


def hex_color(rgb: Sequence[float]) -> str:
    """An RGB colour in [0, 1] as CSS "#rrggbb"."""
    return "#" + "".join(f"{round(255 * min(max(float(c), 0.0), 1.0)):02x}" for c in rgb)


def pathology_state(name: str, diameters_mm: Sequence[float]) -> dict:
    """The page state that follows choosing the registered pathology ``name``: the name, its labels
    for the legend (value, name, abbreviation, CSS colour: the segments' own), its regions (the page
    shows the composition sliders of the regions it has: no edema slider for multiple sclerosis),
    its composition defaults, and the seed ``diameters_mm`` (R-L, A-P, S-I) brought into its
    diameter range (a 30 mm glioma seed becomes a 15 mm plaque)."""
    pathology = get_pathology(name)
    composition = Composition.for_pathology(name)
    diameters = {}
    for key, diameter in zip(DIAMETER_KEYS, diameters_mm):
        _, slider_low, slider_high, _ = SLIDERS[key]
        diameters[key] = min(max(pathology.fit_diameter_mm(diameter), slider_low), slider_high)
    return {
        "pathology": name,
        "pathology_labels": [{"value": label.value, "name": label.name, "abbreviation": label.abbreviation,
                              "color": hex_color(label.color)} for label in pathology.labels],
        "pathology_regions": sorted({label.region for label in pathology.labels}),
        "edema_mm": composition.edema_extent_mm,
        "necrosis": composition.necrosis_fraction,
        "rim_mm": composition.rim_thickness_mm,
        "irregularity": composition.irregularity,
        "enhancing": composition.enhancing,
        **diameters,
    }


def starting_pathology(pathology: str | None, model: str | None) -> str:
    """The pathology the page opens with: ``pathology`` (``app --pathology``), else ``model``'s,
    else glioma. Checked before the server starts, each refusal in one line: an unknown name, a
    ``model`` of another pathology, a pathology whose default model is not installed (give
    ``--model``). Only the model's card is read here; the weights load once the server runs."""
    if model is not None:
        card = read_card(model, ModelCard)
        name = get_pathology(pathology or card.pathology).name
        if card.pathology != name:
            raise SynthPathologyError(f"model {card.model_id!r} ({model}) is for pathology {card.pathology!r}, "
                                      f"not {name!r}")
        return name
    name = get_pathology(pathology or DEFAULT_PATHOLOGY).name
    if not default_model_path(name).is_dir():
        raise SynthPathologyError(f"the default model of pathology {name!r} ({default_model_path(name).name}) is not "
                                  "installed yet: give the model folder with --model")
    return name
