"""Synthesis sessions: each keeps its own loaded models and last prepared case."""

from __future__ import annotations

import pytest
from helpers.models import register_other_pathology, save_tiny_model

from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.synthesis.session import SynthesisSession
from SynthPathologyLib.synthesis.synthesizer import default_model_path


def test_a_model_loads_once_per_folder_and_device_and_the_oldest_goes_first():
    session = SynthesisSession(max_models=1)
    first = session.synthesizer()
    assert session.synthesizer(default_model_path("glioma"), "glioma", "auto") is first
    assert session.synthesizer(first) is first  # a synthesizer is used as given
    on_cpu = session.synthesizer(device="cpu")
    assert on_cpu is not first and str(on_cpu.device) == "cpu"
    assert session.synthesizer() is not first  # evicted by the CPU one: loaded again


def test_the_last_prepared_case_is_kept_for_its_synthesizer_and_key(healthy_case):
    session = SynthesisSession()
    synthesizer = session.synthesizer()
    calls = []

    def prepare():
        calls.append(1)
        return synthesizer.prepare(healthy_case)

    assert session.kept_case(synthesizer, ("nodes", 1)) is None
    prepared = session.prepared_case(synthesizer, ("nodes", 1), prepare)
    assert session.prepared_case(synthesizer, ("nodes", 1), prepare) is prepared and len(calls) == 1
    assert session.kept_case(synthesizer, ("nodes", 2)) is None  # voxels changed
    assert session.kept_case(SynthesisSession().synthesizer(), ("nodes", 1)) is None  # another model
    assert SynthesisSession().kept_case(synthesizer, ("nodes", 1)) is None  # another session


def test_a_model_of_another_pathology_is_refused_loaded_or_given(monkeypatch, tmp_path):
    other = register_other_pathology(monkeypatch)
    session = SynthesisSession()
    model = save_tiny_model(tmp_path / "model", pathology=other)
    assert session.synthesizer(model, other).card.pathology == other
    for given in (model, session.synthesizer(model, other)):
        with pytest.raises(SynthPathologyError, match=f"is for pathology '{other}', not 'glioma'"):
            session.synthesizer(given, "glioma")
