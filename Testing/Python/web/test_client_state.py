"""What a page may set, checked on the server (without a browser): whole numbers stay whole, numbers
stay finite and in range, a lesion shape is a library name and never a path, unknown and framework
names are ignored, a pathology is a registered name; the command line refuses the same bad random
seed with one line, and an app whose pathology or model does not fit stops before it serves."""

from __future__ import annotations

import pytest
from helpers.models import save_tiny_model

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.errors import CaseError, SynthPathologyError
from SynthPathologyLib.pathologies import get_pathology, pathology_names
from SynthPathologyLib.web.app import AppOptions, create_lesion_app
from SynthPathologyLib.web.client_state import Field, StateRefused, checked_changes
from SynthPathologyLib.web.lesion_state import lesion_schema
from SynthPathologyLib.web.lesion_workflow import library_lesions
from SynthPathologyLib.web.pathology_choice import hex_color, pathology_choices, pathology_state

LIBRARY = ("A-seg.nii.gz", "cases/B_seg.nii.gz")


class Contrasts:
    contrasts = [{"value": "t1"}, {"value": "flair"}]


@pytest.mark.parametrize("name, value, message", [
    ("random_seed", -1, "Random seed must be a whole number from 0 to 2147483647, got -1"),
    ("random_seed", 2.7, "got 2.7"),
    ("random_seed", "1e3", "got '1e3'"),
    ("random_seed", True, "got True"),
    ("edema_mm", "inf", "Edema (mm) must be a number from 0 to 30, got 'inf'"),
    ("edema_mm", float("nan"), "got nan"),
    ("necrosis", 0.95, "Necrosis must be a number from 0 to 0.9"),
    ("placing", "yes", "Placing must be on or off"),
    ("contrast", "t2", "Contrast must be one of t1, flair"),
    ("mass_effect_mm", 10.5, "Mass effect (mm) must be a number from 0 to 10, got 10.5"),
    ("mass_effect_mm", -1, "got -1"),
    ("lesion_shape", "/etc/passwd", "Lesion shape must be one of parametric, A-seg.nii.gz, cases/B_seg.nii.gz, got"),
    ("lesion_shape", "../A-seg.nii.gz", "got '../A-seg.nii.gz'"),
    ("lesion_shape", 0, "must be text"),
    ("error", "<img src=x onerror=alert(1)>", "must be one of"),
    ("pathology", "cancer", f"Pathology must be one of {', '.join(pathology_names())}, got 'cancer'"),
    ("pathology", "Multiple sclerosis", "got 'Multiple sclerosis'"),  # the display name is not the value
    ("enhancing", 1, "Enhancing must be on or off"),
])
def test_bad_values_are_refused_with_a_message(name, value, message):
    accepted, refused, ignored = checked_changes(lesion_schema(Contrasts(), LIBRARY), {name: value})
    assert not accepted and not ignored
    assert len(refused) == 1 and message in refused[0]


def test_good_values_are_stored_as_their_type_and_unknown_names_ignored():
    changes = {"random_seed": "12", "edema_mm": 3, "contrast": "flair", "error": "",
               "trame__template_main": "<img>", "case_id": "other", "has_result": True}
    accepted, refused, ignored = checked_changes(lesion_schema(Contrasts()), changes)
    assert accepted == {"random_seed": 12, "edema_mm": 3.0, "contrast": "flair", "error": ""} and not refused
    assert sorted(ignored) == ["case_id", "has_result", "trame__template_main"]


def test_a_library_lesion_is_chosen_by_its_name_in_the_library(tmp_path):
    for name in ("A-seg.nii.gz", "cases/B_seg.nii.gz", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    library = library_lesions(tmp_path)
    assert library == {name: (tmp_path / name).resolve() for name in LIBRARY}
    changes = {"lesion_shape": "cases/B_seg.nii.gz", "mass_effect_mm": "2.5"}
    accepted, refused, _ = checked_changes(lesion_schema(Contrasts(), library), changes)
    assert accepted == {"lesion_shape": "cases/B_seg.nii.gz", "mass_effect_mm": 2.5} and not refused
    assert checked_changes(lesion_schema(Contrasts()), {"lesion_shape": "parametric"})[0] == {
        "lesion_shape": "parametric"}  # without a library, the parametric lesion only
    assert library_lesions(None) == {}


def test_an_app_with_a_folder_that_is_no_library_stops_before_it_serves(tmp_path):
    with pytest.raises(CaseError, match="no segmentation files"):
        create_lesion_app(AppOptions(label_library=tmp_path))
    assert main(["app", "--reading", str(tmp_path), "--reader", "a", "--label-library", str(tmp_path)]) == 2


def test_an_app_with_an_unknown_pathology_or_a_model_of_another_stops_before_it_serves(tmp_path):
    with pytest.raises(SynthPathologyError, match="unknown pathology 'cancer'"):
        create_lesion_app(AppOptions(pathology="cancer"))
    model = save_tiny_model(tmp_path / "tiny_ms", pathology="ms")
    with pytest.raises(SynthPathologyError, match="is for pathology 'ms', not 'glioma'"):
        create_lesion_app(AppOptions(model=str(model), pathology="glioma"))
    assert main(["app", "--reading", str(tmp_path), "--reader", "a", "--pathology", "ms"]) == 2


def test_the_pathology_state_follows_the_registry():
    state = pathology_state("ms", (30.0, 4.0, 10.0))
    assert state["pathology_labels"] == [
        {"value": label.value, "name": label.name, "abbreviation": label.abbreviation, "color": hex_color(label.color)}
        for label in get_pathology("ms").labels]
    assert hex_color((1.0, 0.5, 0.0)) == "#ff8000"
    assert "edema" not in state["pathology_regions"] and state["edema_mm"] == 0 and state["enhancing"] is False
    # Seed sizes into the pathology's range (and the sliders': 5 mm at least).
    assert (state["diameter_rl"], state["diameter_ap"], state["diameter_si"]) == (15.0, 5.0, 10.0)
    assert pathology_state("glioma", (30.0,) * 3)["diameter_rl"] == 30.0
    assert [c["title"] for c in pathology_choices()] == [get_pathology(n).display_name for n in pathology_names()]


def test_a_long_list_of_choices_is_cut_short_in_the_message():
    names = [f"case{i:03d}-seg.nii.gz" for i in range(300)]
    _, [message], _ = checked_changes(lesion_schema(Contrasts(), names), {"lesion_shape": "other.nii.gz"})
    assert message == ("Lesion shape must be one of parametric, case000-seg.nii.gz, case001-seg.nii.gz, "
                       "case002-seg.nii.gz, case003-seg.nii.gz, case004-seg.nii.gz... (301 in all), got 'other.nii.gz'")


def test_a_whole_number_field_does_not_round():
    confidence = Field("Confidence", int, 1, 5, nullable=True)
    assert confidence.check(3) == 3 and confidence.check(None) is None and confidence.check(3.0) == 3
    with pytest.raises(StateRefused, match="whole number from 1 to 5, got 2.7"):
        confidence.check(2.7)


def test_the_command_line_refuses_a_negative_random_seed_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["synthesize", "--case", str(tmp_path), "--out", str(tmp_path / "out"), "--seed-ras=0,0,0",
              "--diameter", "20", "--random-seed", "-1"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith("argument --random-seed: must be a whole number from 0 to 2147483647, got -1")
