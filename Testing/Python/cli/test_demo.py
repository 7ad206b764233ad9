"""The README's main job: ``synthpathology demo`` with the shipped model on the default brain."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.cli.synthesis import DEMO_SEED_RAS
from SynthPathologyLib.core.image_io import ras_to_lps
from SynthPathologyLib.io.brats import read_brats_case
from SynthPathologyLib.lesions.placement import core_centroid_lps
from SynthPathologyLib.models.generator import load_model
from SynthPathologyLib.pathologies import get_pathology, pathology_names
from SynthPathologyLib.synthesis.synthesizer import default_model_path


@pytest.mark.parametrize("pathology", pathology_names())
def test_each_pathologys_shipped_model_loads_with_its_card(pathology):
    model = load_model(default_model_path(pathology))
    assert model.card.pathology == pathology
    assert model.card.contrasts == ["t1", "t1c", "t2", "flair"]
    assert model.card.training["steps"] > 0 and model.card.metrics


def test_the_demo_paints_each_pathology_with_its_shipped_model(tmp_path):
    for pathology in ("metastasis", "ms"):
        assert main(["demo", "--out", str(tmp_path / pathology), "--pathology", pathology]) == 0
        provenance = json.loads((tmp_path / pathology / "synthetic" / "provenance.json").read_text())
        assert provenance["model_id"] == f"{pathology}_v1"
        label = sitk.GetArrayFromImage(read_brats_case(tmp_path / pathology / "synthetic", require_label=True).label)
        assert set(np.unique(label)) - {0} <= {info.value for info in get_pathology(pathology).labels}


def test_demo_writes_the_synthetic_case_and_montages(tmp_path):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    original = read_brats_case(tmp_path / "original")
    synthetic = read_brats_case(tmp_path / "synthetic", require_label=True)
    assert np.linalg.norm(core_centroid_lps(synthetic.label) - np.array(ras_to_lps(DEMO_SEED_RAS))) < 3.0
    provenance = json.loads((tmp_path / "synthetic" / "provenance.json").read_text())
    assert provenance["model_id"] == "glioma_real_v3"
    lesion_region = sitk.GetArrayViewFromImage(synthetic.label) > 0
    changed = np.zeros(lesion_region.shape, bool)
    for contrast in original.contrasts:
        changed |= sitk.GetArrayViewFromImage(synthetic.images[contrast]) != sitk.GetArrayViewFromImage(original.images[contrast])
    assert changed[lesion_region].mean() > 0.9
    assert changed.sum() < 3 * lesion_region.sum()  # only the lesion and its margin change
    for name in ("before.png", "after.png"):
        assert sitk.ReadImage(str(tmp_path / name)).GetNumberOfComponentsPerPixel() == 3
