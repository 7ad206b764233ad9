"""Lesion mode's page state: its names and defaults, the sliders' ranges, and which names a page may
set (with their types and ranges, checked on the server: see :mod:`.client_state`)."""

from __future__ import annotations

from collections.abc import Iterable

from ..cli.options import MAX_RANDOM_SEED
from ..lesions.spec import Composition
from ..pathologies import pathology_names
from .client_state import PAGE_FIELDS, Field, Schema

DIAMETER_KEYS = ("diameter_rl", "diameter_ap", "diameter_si")

SLIDERS = {  # name: (label, low, high, step); the page's sliders and the server's checks share them
    "diameter_rl": ("R-L (mm)", 5, 80, 1),
    "diameter_ap": ("A-P (mm)", 5, 80, 1),
    "diameter_si": ("S-I (mm)", 5, 80, 1),
    "edema_mm": ("Edema (mm)", 0, 30, 1),
    "necrosis": ("Necrosis", 0, 0.9, 0.05),
    "rim_mm": ("Rim (mm)", 1, 10, 0.5),
    "irregularity": ("Irregular", 0, 1, 0.05),
    "mass_effect_mm": ("Mass effect (mm)", 0, 10, 0.5),
    "opacity": ("Opacity", 0, 1, 0.05),
}

PARAMETRIC = "parametric"
"""The lesion shape generated from the seed and the composition; the other shapes are library
files, named by their path inside the library folder."""

# What Generate, Next variant and Remove send with the click (see tasks.click_with_state).
SENT_WITH_CLICKS = (*DIAMETER_KEYS, "edema_mm", "necrosis", "rim_mm", "irregularity", "enhancing", "mass_effect_mm",
                    "lesion_shape", "random_seed")

STATE_DEFAULTS = {
    "case_id": "",
    # The chosen pathology (a registered name) and what follows it: see pathology_choice.pathology_state.
    "pathology": "glioma",
    "pathologies": [],  # [{"value": "ms", "title": "Multiple sclerosis"}, ...]: the registry's
    "pathology_labels": [],  # [{"value": 1, "name": ..., "abbreviation": ..., "color": "#rrggbb"}, ...]
    "pathology_regions": [],  # ["edema", "enhancing", "necrosis"]: which composition sliders apply
    "seed_ras": None,  # [R, A, S] mm of the current seed (the last placed), for the page
    "seed_count": 0,  # seeds placed: one lesion each
    "adding_seeds": False,  # a placing click adds a seed (else it moves the current one)
    "diameter_rl": 30.0,  # tumor-core diameters (mm) along R-L, A-P, S-I
    "diameter_ap": 30.0,
    "diameter_si": 30.0,
    "edema_mm": Composition.edema_extent_mm,
    "necrosis": Composition.necrosis_fraction,
    "rim_mm": Composition.rim_thickness_mm,
    "irregularity": Composition.irregularity,
    "enhancing": Composition.enhancing,
    "mass_effect_mm": 0.0,  # push of the tissue at the core's edge
    "lesion_shape": PARAMETRIC,  # or the name of a library file
    "lesion_shapes": [],  # [{"value": "parametric", "title": "Parametric"}, ...]: see lesion_shapes()
    "random_seed": 0,
    "placing": True,  # clicks place the seed (else the ROI handles resize it)
    "auto_generate": True,  # generate after every placement click
    "has_result": False,
    "operation": "",  # "synthesize" or "remove": what the shown result is
    "show_synthetic": True,
    "opacity": 1.0,
    "contrast": "flair",
    "contrasts": [],  # [{"value": "t1", "title": "T1"}, ...] of the case
    "can_remove": False,  # the case has a lesion label to remove
    "download_name": "",
    "last_duration_s": None,  # seconds the last generation took on the server
    "used_contrasts": "",  # "T1c, FLAIR": the contrasts the last result was generated from
    "result_lesions": [],  # [{"pathology": "ms", "center_ras": [R, A, S]}, ...]: the shown result's lesions
    "lesion_volumes": "",  # "WML 1.2 ml, GdE 0.0 ml": the shown result's label volumes
    "result_id": 0,  # counts results shown: page scripts wait on it
}


def lesion_shapes(library: Iterable[str] = ()) -> list[dict]:
    """The page's lesion-shape choices: the parametric lesion, then each library file by name."""
    return [{"value": PARAMETRIC, "title": "Parametric"}, *({"value": name, "title": name} for name in library)]


def lesion_schema(state, library: Iterable[str] = ()) -> Schema:
    """The names lesion mode's page may set; the contrast must be one of the shown case's, the lesion
    shape parametric or one of the ``library`` names (the page never sends a path), the pathology a
    registered one."""
    schema = {name: Field(label, float, low, high) for name, (label, low, high, _) in SLIDERS.items()}
    schema["lesion_shape"] = Field("Lesion shape", str, choices=(PARAMETRIC, *library))
    schema["random_seed"] = Field("Random seed", int, 0, MAX_RANDOM_SEED)
    schema["pathology"] = Field("Pathology", str, choices=pathology_names)
    for name, label in (("placing", "Placing"), ("auto_generate", "Generate on every click"),
                        ("show_synthetic", "Original/Synthetic"), ("enhancing", "Enhancing"),
                        ("adding_seeds", "Each click adds a seed")):
        schema[name] = Field(label, bool)
    schema["contrast"] = Field("Contrast", str, choices=lambda: [c["value"] for c in state.contrasts])
    return {**schema, **PAGE_FIELDS}
