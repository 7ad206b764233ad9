"""``synthpathology pathologies`` and ``--pathology``: the registry listed, and models of another
pathology refused."""

from __future__ import annotations

import json

import pytest
from helpers.models import register_other_pathology, save_tiny_model

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.lesions.spec import Composition
from SynthPathologyLib.pathologies import get_pathology


def test_the_listing_names_glioma_labels_contrasts_and_default_model(capsys):
    assert main(["pathologies"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("glioma: Glioma (BraTS) - ")
    for line in ("1 NCR  necrotic tumor core (#e63333)", "2 ED   peritumoral edema", "3 ET   enhancing tumor",
                 "contrasts: T1, T1c, T2, FLAIR", "default model: glioma_real_v3"):
        assert line in printed


def test_json_lists_every_registered_pathology(monkeypatch, capsys):
    other = register_other_pathology(monkeypatch)
    assert main(["pathologies", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert sorted(listed) == ["glioma", "metastasis", "ms", other]
    glioma = listed["glioma"]
    assert [(label["value"], label["abbreviation"]) for label in glioma["labels"]] == [(1, "NCR"), (2, "ED"), (3, "ET")]
    assert glioma["labels"][0]["color"] == [0.9, 0.2, 0.2]
    assert glioma["contrasts"] == ["t1", "t1c", "t2", "flair"]
    assert glioma["default_model"] == "glioma_real_v3" and glioma["description"]
    assert [(label["value"], label["abbreviation"]) for label in listed["metastasis"]["labels"]] == [
        (1, "NETC"), (2, "SNFH"), (3, "ET")]
    assert [label["value"] for label in listed["ms"]["labels"]] == [1, 2]


@pytest.mark.parametrize(("model_pathology", "asked"), [("testoma", "glioma"), ("glioma", "testoma"), ("glioma", "ms")])
def test_a_model_of_another_pathology_is_refused_in_one_line(model_pathology, asked, monkeypatch, tmp_path, capsys):
    register_other_pathology(monkeypatch)
    model = save_tiny_model(tmp_path / "model", pathology=model_pathology)
    assert main(["remove", "--case", str(tmp_path / "case"), "--model", str(model), "--pathology", asked,
                 "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error == (f"synthpathology remove: error: model 'tiny' ({model}) is for pathology {model_pathology!r}, "
                     f"not {asked!r}\n")
    assert not (tmp_path / "out").exists()


def test_the_models_own_pathology_is_accepted(monkeypatch, tmp_path, capsys):
    other = register_other_pathology(monkeypatch)
    model = save_tiny_model(tmp_path / "model", pathology=other)
    assert main(["demo", "--out", str(tmp_path / "out"), "--model", str(model), "--pathology", other]) == 0
    assert (tmp_path / "out" / "synthetic" / "provenance.json").is_file()


def test_the_demo_of_ms_paints_a_plaque_of_ms_size_and_composition(tmp_path, capsys):
    model = save_tiny_model(tmp_path / "model", pathology="ms")
    assert main(["demo", "--out", str(tmp_path / "out"), "--model", str(model)]) == 0
    lesion = json.loads((tmp_path / "out" / "synthetic" / "provenance.json").read_text())["lesion"]
    low, high = get_pathology("ms").diameter_range_mm
    assert lesion["pathology"] == "ms" and all(low <= d <= high for d in lesion["diameters_mm"])
    assert Composition(**lesion["composition"]) == Composition.for_pathology("ms")
    assert "Multiple sclerosis lesion at RAS" in capsys.readouterr().out


def test_an_unknown_pathology_is_refused_with_the_registered_ones(tmp_path, capsys):
    assert main(["synthesize", "--case", str(tmp_path), "--seed-ras=0,0,0", "--diameter", "20",
                 "--pathology", "nosuch", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == "synthpathology synthesize: error: unknown pathology 'nosuch' (known: glioma, metastasis, ms)\n"


@pytest.mark.parametrize("command", ["synthesize", "augment"])
def test_a_mass_effect_for_ms_plaques_is_refused_before_any_case_is_read(command, healthy_case, tmp_path, capsys):
    """MS plaques do not occupy space: asking them to push tissue is a mistake said in one line,
    before any case is read or written (augment has made its empty --out folder by then)."""
    write_brats_case(healthy_case, tmp_path / "data" / "Healthy-00000", "2023")
    model = save_tiny_model(tmp_path / "model", pathology="ms")
    source = (["--case", str(tmp_path / "data" / "Healthy-00000"), "--count", "2"] if command == "synthesize"
              else ["--data", str(tmp_path / "data")])
    assert main([command, *source, "--model", str(model), "--mass-effect", "2", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"synthpathology {command}: error: Multiple sclerosis lesions do not push the "
                                       "tissue around them: no mass effect for pathology 'ms' (give 0 mm)\n")
    assert not any((tmp_path / "out").rglob("*"))
