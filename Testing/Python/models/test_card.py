"""Model folders: the one card schema (from the card's fields), save and load, for the generator's
and the segmenter's cards alike."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers.models import save_tiny_model

from SynthPathologyLib.core import durable
from SynthPathologyLib.core.resources import resource_path
from SynthPathologyLib.evaluation.segmenter import build_segmenter, load_segmenter
from SynthPathologyLib.models import card as card_module
from SynthPathologyLib.models.card import CARD_FILE, ModelFileError, save_model
from SynthPathologyLib.models.generator import load_model

SHIPPED_SEGMENTER = resource_path("Models/glioma_phantom_segresnet")


def test_model_folder_round_trip_gives_identical_outputs(tmp_path):
    folder = save_tiny_model(tmp_path / "m")
    first, second = load_model(folder), load_model(folder)
    x = torch.randn(1, 9, 16, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(first.generator(x), second.generator(x), rtol=0, atol=0)
    assert first.sha256 == second.sha256


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda card: card.update(patch_size=[32, 32]), "patch_size must be three positive integers"),
        (lambda card: card.update(evil="x"), "unknown fields"),
        (lambda card: card.pop("pathology"), "missing fields"),
        (lambda card: card.update(network={"channels": [4, 8, 16, 32], "strides": [2, 2]}),
         "weights do not fit|bad network"),
    ],
)
def test_bad_model_cards_are_refused(tmp_path, edit, message):
    folder = save_tiny_model(tmp_path / "m")
    card = json.loads((folder / CARD_FILE).read_text())
    edit(card)
    (folder / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


@pytest.fixture(params=["generator", "segmenter"])
def model_folder(request, tmp_path):
    """A valid folder of each kind of model, and its loader."""
    if request.param == "generator":
        return save_tiny_model(tmp_path / "generator"), load_model
    folder = tmp_path / "segmenter"
    shutil.copytree(SHIPPED_SEGMENTER, folder)
    return folder, load_segmenter


@pytest.mark.parametrize("edit, message", [
    ({"weights_path": "../../etc/passwd"}, r"unknown fields \['weights_path'\], missing fields \[\]"),
    ({"model_id": 3}, r"field 'model_id' has the wrong type \(int; expected str\)"),
    ({"spacing_mm": [2.0, "2", 2.0]}, "field 'spacing_mm' has the wrong type"),
    ({"patch_size": [32, 32, True]}, "field 'patch_size' has the wrong type"),  # a bool is not a number
    ({"patch_size": [32, 32, 32.5]}, "field 'patch_size' has the wrong type"),
    ({"training": []}, "field 'training' has the wrong type"),
    ({"card_version": 2}, "card version 2 is not supported"),
    ({"spacing_mm": [2.0, 0.0, 2.0]}, "spacing_mm must be three positive numbers"),
    ({"pathology": "unicorn"}, "model_card.json: unknown pathology 'unicorn'"),
])
def test_both_cards_share_one_schema_check(model_folder, edit, message):
    folder, load = model_folder
    card = json.loads((folder / CARD_FILE).read_text())
    (folder / CARD_FILE).write_text(json.dumps({**card, **edit}))
    with pytest.raises(ModelFileError, match=message) as raised:
        load(folder)
    assert "\n" not in str(raised.value)


def test_segmenter_card_checks_its_own_fields(tmp_path):
    folder = tmp_path / "segmenter"
    shutil.copytree(SHIPPED_SEGMENTER, folder)
    card = json.loads((folder / CARD_FILE).read_text())
    for edit, message in (({"blocks_down": []}, "blocks_down must be"), ({"feature_crop": 4}, "feature_crop")):
        (folder / CARD_FILE).write_text(json.dumps({**card, **edit}))
        with pytest.raises(ModelFileError, match=message):
            load_segmenter(folder)


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],  # truncated by a crash or a partial download
    lambda data: b"\x00garbage" * 100,
])
def test_damaged_weights_give_one_line_error_naming_the_file(model_folder, damage):
    folder, load = model_folder
    weights = next(folder.glob("*.safetensors"))
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(ModelFileError, match=f"{weights.name}: weights do not fit the model card") as raised:
        load(folder)
    assert "\n" not in str(raised.value)


def test_missing_files_and_bad_json_are_named(model_folder):
    folder, load = model_folder
    (folder / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelFileError, match=f"{CARD_FILE}: not valid JSON"):
        load(folder)
    (folder / CARD_FILE).unlink()
    with pytest.raises(ModelFileError, match=f"not a model folder \\(missing {CARD_FILE}\\)"):
        load(folder)
    with pytest.raises(ModelFileError, match="not a model folder"):
        load(folder / "nowhere")


def test_both_cards_are_written_through_the_fsynced_writer(tmp_path, monkeypatch):
    written = []

    def spy(path, data, **kwargs):
        written.append(path.name)
        return durable.atomic_write_bytes(path, data, **kwargs)

    monkeypatch.setattr(card_module, "atomic_write_bytes", spy)
    save_tiny_model(tmp_path / "generator")
    segmenter = load_segmenter(SHIPPED_SEGMENTER)
    save_model(tmp_path / "segmenter", segmenter.network, segmenter.card)
    assert written == ["generator.safetensors", CARD_FILE, "segmenter.safetensors", CARD_FILE]
    reloaded = load_segmenter(tmp_path / "segmenter")
    assert reloaded.card == segmenter.card and reloaded.sha256 == segmenter.sha256
    assert build_segmenter(reloaded.card).state_dict().keys() == reloaded.network.state_dict().keys()
