"""The pathology registry: glioma, brain metastasis (BraTS-MET) and multiple sclerosis, their label
values, names and contrasts, their default compositions and the error for an unknown name."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.lesions.spec import Composition
from SynthPathologyLib.pathologies import Pathology, get_pathology, pathology_names, register_pathology
from SynthPathologyLib.phantom.generator import PhantomOptions

CONTRASTS = ("t1", "t1c", "t2", "flair")


def labels_of(name: str) -> list[tuple[int, str, str]]:
    return [(label.value, label.abbreviation, label.region) for label in get_pathology(name).labels]


def test_glioma_metastasis_and_ms_are_registered():
    assert {"glioma", "metastasis", "ms"} <= set(pathology_names())
    assert pathology_names() == sorted(pathology_names())
    for name in ("glioma", "metastasis", "ms"):
        pathology = get_pathology(name)
        assert isinstance(pathology, Pathology) and pathology.name == name
        assert pathology.display_name and pathology.description and "\n" not in pathology.description


def test_glioma_keeps_its_brats_labels():
    assert labels_of("glioma") == [(1, "NCR", "necrosis"), (2, "ED", "edema"), (3, "ET", "enhancing")]
    assert get_pathology("glioma").core_values == (1, 3)


def test_metastasis_uses_the_brats_met_labels():
    assert labels_of("metastasis") == [(1, "NETC", "necrosis"), (2, "SNFH", "edema"), (3, "ET", "enhancing")]
    metastasis = get_pathology("metastasis")
    names = {label.value: label.name.lower() for label in metastasis.labels}
    assert "non-enhancing" in names[1] and "flair" in names[2] and "enhancing" in names[3]
    assert metastasis.core_values == (1, 3)  # the edema is not core
    assert metastasis.value_of("enhancing") == 3 and metastasis.value_of("edema") == 2


def test_ms_has_a_lesion_label_and_an_optional_enhancing_one():
    assert [(value, region) for value, _, region in labels_of("ms")] == [(1, "lesion"), (2, "enhancing")]
    ms = get_pathology("ms")
    assert ms.core_values == (1, 2)  # both are the plaque itself
    assert ms.value_of("lesion") == 1 and ms.value_of("enhancing") == 2
    with pytest.raises(KeyError):
        ms.value_of("edema")
    assert not ms.space_occupying  # plaques do not push the tissue around


@pytest.mark.parametrize("name", ["glioma", "metastasis", "ms"])
def test_every_pathology_takes_the_four_brats_contrasts(name):
    assert get_pathology(name).contrasts == CONTRASTS


@pytest.mark.parametrize("name", ["glioma", "metastasis", "ms"])
def test_labels_are_distinct_positive_values_with_valid_colors(name):
    pathology = get_pathology(name)
    values = pathology.label_values
    assert len(set(values)) == len(values) and min(values) >= 1
    assert list(values) == list(range(1, len(values) + 1))  # one-hot channels follow the values
    assert len({label.region for label in pathology.labels}) == len(values)
    assert set(pathology.core_regions) <= {label.region for label in pathology.labels}
    for label in pathology.labels:
        assert len(label.color) == 3 and all(0.0 <= c <= 1.0 for c in label.color)


@pytest.mark.parametrize("name", ["glioma", "metastasis", "ms"])
def test_shape_and_sampler_functions_resolve(name):
    pathology = get_pathology(name)
    for reference in (pathology.shape_function, pathology.sampler_function):
        module, _, function = reference.partition(":")
        assert callable(getattr(importlib.import_module(f"SynthPathologyLib.{module}"), function))
    low, high = pathology.diameter_range_mm
    assert 0 < low < high
    assert 1 <= pathology.lesions_per_case[0] <= pathology.lesions_per_case[1]


def test_ms_composition_has_no_edema_or_necrosis_and_does_not_enhance():
    ms = Composition.for_pathology("ms")
    assert ms.edema_extent_mm == 0
    assert ms.necrosis_fraction == 0
    assert ms.enhancing is False
    assert Composition.for_pathology("ms", enhancing=True).enhancing is True
    assert Composition.for_pathology("ms", enhancing=None).enhancing is False  # None keeps the default
    assert Composition.for_pathology("ms", irregularity=0.1).edema_extent_mm == 0


def test_glioma_and_metastasis_compositions():
    assert Composition.for_pathology("glioma") == Composition()
    metastasis = Composition.for_pathology("metastasis")
    assert metastasis.enhancing and metastasis.edema_extent_mm > 0
    assert metastasis.irregularity < Composition().irregularity  # round, well-circumscribed


@pytest.mark.parametrize("call", [
    lambda: get_pathology("nosuch"),
    lambda: Composition.for_pathology("nosuch"),
    lambda: PhantomOptions(pathology="nosuch"),
], ids=["get_pathology", "Composition.for_pathology", "PhantomOptions"])
def test_an_unknown_pathology_gives_a_one_line_error_listing_the_known_ones(call):
    with pytest.raises(SynthPathologyError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message
    assert "'nosuch'" in message
    for name in ("glioma", "metastasis", "ms"):
        assert name in message


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        register_pathology(get_pathology("ms"))
    assert get_pathology("ms").labels[0].region == "lesion"


def test_listing_pathologies_loads_no_scientific_library():
    code = ("import sys; import SynthPathologyLib.pathologies as p; "
            "assert p.pathology_names(); "
            "print(sorted(m for m in ('numpy', 'SimpleITK', 'torch', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
