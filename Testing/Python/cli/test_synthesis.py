"""The generator's command-line verbs, with a real (small, untrained) model folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.models import save_tiny_model, seed_in_white_matter

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.image_io import lps_to_ras
from SynthPathologyLib.io.brats import find_brats_cases, read_brats_case, write_brats_case
from SynthPathologyLib.lesions.placement import core_centroid_lps


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def healthy_folder(tmp_path_factory, healthy_case) -> Path:
    return write_brats_case(healthy_case, tmp_path_factory.mktemp("data") / healthy_case.case_id)


def test_synthesize_writes_one_case_with_provenance_per_variant(model, healthy_folder, healthy_case, tmp_path):
    seed_ras = lps_to_ras(seed_in_white_matter(healthy_case))
    out = tmp_path / "out"
    assert main(["synthesize", "--case", str(healthy_folder), "--seed-ras=" + ",".join(map(str, seed_ras)),
                 "--diameter", "20", "--variants", "2", "--random-seed", "5", "--model", str(model),
                 "--out", str(out)]) == 0
    folders = find_brats_cases(out)
    assert [f.name for f in folders] == [f"{healthy_case.case_id}-synth00", f"{healthy_case.case_id}-synth01"]
    seeds = []
    for folder in folders:
        case = read_brats_case(folder, require_label=True)
        centroid_ras = lps_to_ras(tuple(core_centroid_lps(case.label)))
        assert np.linalg.norm(np.subtract(centroid_ras, seed_ras)) < 3.0
        provenance = json.loads((folder / "provenance.json").read_text())
        seeds.append(provenance["random_seed"])
        assert provenance["model_id"] == "tiny" and provenance["operation"] == "insert"
    assert seeds == [5, 6]


def test_remove_writes_a_case_with_an_empty_label(model, tumor_case, tmp_path):
    folder = write_brats_case(tumor_case, tmp_path / "in" / tumor_case.case_id)
    assert main(["remove", "--case", str(folder), "--model", str(model), "--out", str(tmp_path / "out")]) == 0
    case = read_brats_case(tmp_path / "out" / f"{tumor_case.case_id}-healthy", require_label=True)
    assert not sitk.GetArrayViewFromImage(case.label).any()


def test_augment_inserts_labelled_lesions_into_each_case(model, healthy_folder, tmp_path):
    out = tmp_path / "augmented"
    assert main(["augment", "--data", str(healthy_folder.parent), "--per-case", "2", "--model", str(model),
                 "--diameter-range", "14", "20", "--out", str(out)]) == 0
    folders = find_brats_cases(out)
    assert len(folders) == 2
    for folder in folders:
        label = read_brats_case(folder, require_label=True).label
        # Small cores on a 2 mm grid may have no room for necrosis inside their rim.
        assert {2, 3} <= set(np.unique(sitk.GetArrayViewFromImage(label)).tolist())
        assert json.loads((folder / "provenance.json").read_text())["lesion"]["diameters_mm"]


def test_montage_writes_an_rgb_png(healthy_folder, tmp_path):
    assert main(["montage", "--case", str(healthy_folder), "--out", str(tmp_path / "m.png")]) == 0
    picture = sitk.ReadImage(str(tmp_path / "m.png"))
    assert picture.GetNumberOfComponentsPerPixel() == 3 and picture.GetSize()[0] > 100


def test_a_folder_that_is_not_a_model_is_refused(healthy_folder, tmp_path, capsys):
    assert main(["synthesize", "--case", str(healthy_folder), "--seed-ras", "0,0,0", "--diameter", "10",
                 "--model", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a model folder (missing model_card.json)" in capsys.readouterr().err
