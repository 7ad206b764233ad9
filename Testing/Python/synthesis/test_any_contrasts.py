"""Generator v2 at inference, with a real (untrained, small) resize-convolution generator saved and
loaded as a model folder: any non-empty subset of contrasts, healthy inpainting of any mask (voided
voxels unread), lesion removal on the same path, the band's level kept, and the invariants (only
the region changes; grid, dtype and scale kept)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.models import save_tiny_model, seed_in_white_matter
from scipy import ndimage

from SynthPathologyLib.cli import main as cli
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.errors import CaseError
from SynthPathologyLib.core.image_io import copy_geometry, same_grid, write_image
from SynthPathologyLib.evaluation.repaint import repaint_dataset
from SynthPathologyLib.io.brats import read_brats_case, write_brats_case
from SynthPathologyLib.lesions.spec import LesionSpec
from SynthPathologyLib.models.card import save_model
from SynthPathologyLib.models.generator import ModelCard
from SynthPathologyLib.networks.pix2pix import ChannelLayout, NetworkConfig, build_generator
from SynthPathologyLib.synthesis.synthesizer import Synthesizer

TINY_V2 = NetworkConfig(channels=(4, 8, 16), strides=(2, 2), architecture="resize_unet")


def save_tiny_v2_model(folder):
    torch.manual_seed(0)
    card = ModelCard(model_id="tiny-v2", pathology="glioma", contrasts=["t1", "t1c", "t2", "flair"],
                     patch_size=[32, 32, 32], spacing_mm=[2.0, 2.0, 2.0], margin_mm=4.0, network=TINY_V2.to_dict())
    return save_model(folder, build_generator(TINY_V2, ChannelLayout(4, 3)), card)


@pytest.fixture(scope="module")
def synthesizer(tmp_path_factory) -> Synthesizer:
    return Synthesizer(save_tiny_v2_model(tmp_path_factory.mktemp("model")), device="cpu")


def subset(case: Case, contrasts) -> Case:
    return Case({c: case.images[c] for c in contrasts}, label=case.label, brain_mask=case.brain_mask,
                case_id=case.case_id)


def arrays(case: Case) -> dict[str, np.ndarray]:
    return {c: sitk.GetArrayFromImage(i) for c, i in case.images.items()}


def hole_in_white_matter(case: Case) -> sitk.Image:
    """A 12 x 16 x 12 mm box mask in the left hemisphere's white matter (uint8)."""
    index = case.reference.TransformPhysicalPointToIndex(seed_in_white_matter(case))
    mask = np.zeros(case.reference.GetSize()[::-1], np.uint8)
    x, y, z = index
    mask[z - 3:z + 3, y - 4:y + 4, x - 3:x + 3] = 1
    return copy_geometry(mask, case.reference)


@pytest.mark.parametrize("contrasts", [("t1c", "flair"), ("t1",), ("t1", "t1c", "t2", "flair")])
def test_any_subset_of_contrasts_is_synthesized_and_named(synthesizer, healthy_case, contrasts):
    case = subset(healthy_case, contrasts)
    spec = LesionSpec(center_lps=seed_in_white_matter(case), diameters_mm=(20, 18, 20), random_seed=1)
    result = synthesizer.synthesize(case, spec)
    assert result.provenance["contrasts"] == list(contrasts)
    region = sitk.GetArrayFromImage(result.region) > 0
    before, after = arrays(case), arrays(result.case)
    assert set(after) == set(contrasts)
    for contrast in contrasts:
        assert same_grid(result.case.images[contrast], case.images[contrast])
        assert after[contrast].dtype == before[contrast].dtype
        np.testing.assert_array_equal(after[contrast][~region], before[contrast][~region])
        assert not np.array_equal(after[contrast][region], before[contrast][region])


def test_evaluate_repaint_takes_the_contrasts_a_real_case_holds(synthesizer, tumor_case, tmp_path):
    write_brats_case(subset(tumor_case, ("t1c", "flair")), tmp_path / "real" / "TC")
    [folder] = repaint_dataset(tmp_path / "real", tmp_path / "out", synthesizer, variants=1, progress=False)
    assert sorted(read_brats_case(folder, contrasts=()).images) == ["flair", "t1c"]
    assert json.loads((folder / "provenance.json").read_text())["contrasts"] == ["t1c", "flair"]


def test_a_case_with_none_of_the_models_contrasts_is_refused(synthesizer, healthy_case):
    case = Case({"pd": healthy_case.images["t1"]}, case_id="pd-only")
    with pytest.raises(CaseError, match="none of the model's contrasts"):
        synthesizer.prepare(case)


def test_a_v1_model_still_needs_every_contrast(tmp_path, healthy_case):
    v1 = Synthesizer(save_tiny_model(tmp_path / "v1"), device="cpu")
    with pytest.raises(CaseError, match="flair"):
        v1.prepare(subset(healthy_case, ("t1", "t1c", "t2")))


def test_inpaint_fills_the_mask_without_reading_it_and_keeps_the_rest(synthesizer, healthy_case):
    mask = hole_in_white_matter(healthy_case)
    hole = sitk.GetArrayFromImage(mask) > 0
    case = subset(healthy_case, ("t1",))
    voided = sitk.GetArrayFromImage(case.images["t1"])
    voided[hole] = 0
    voided_case = Case({"t1": copy_geometry(voided, case.reference)}, brain_mask=case.brain_mask, case_id="voided")
    results = [synthesizer.inpaint(c, mask, random_seed=4) for c in (case, voided_case)]
    np.testing.assert_array_equal(*(arrays(r.case)["t1"] for r in results))
    filled = arrays(results[1].case)["t1"]
    np.testing.assert_array_equal(filled[~hole], voided[~hole])
    assert filled.dtype == voided.dtype and (filled[hole] > 0).all()
    assert results[1].provenance["operation"] == "inpaint"
    assert not sitk.GetArrayFromImage(results[1].label).any()


def test_the_fill_takes_the_level_of_the_tissue_around_the_mask(tmp_path, healthy_case):
    """A generator whose output is a constant far too bright (head weights 0, bias 5): the fill is
    anchored to the input's median just around the mask, so no bright patch or halo remains; its
    only variation is the scan's grain, added to the flat output."""
    folder = save_tiny_v2_model(tmp_path / "bright")
    synthesizer = Synthesizer(folder, device="cpu")
    head = synthesizer.generator.head.conv
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(5.0)
    synthesizer = Synthesizer(save_model(tmp_path / "bright", synthesizer.generator, synthesizer.card), device="cpu")
    mask = hole_in_white_matter(healthy_case)
    hole = sitk.GetArrayFromImage(mask) > 0
    ring = ndimage.binary_dilation(hole, iterations=2) & ~hole
    result = synthesizer.inpaint(healthy_case, mask)
    for contrast, before in arrays(healthy_case).items():
        filled = arrays(result.case)[contrast][hole]
        assert np.std(filled) == pytest.approx(result.provenance["texture"][contrast]["noise_sd"], rel=0.15)
        assert abs(np.median(filled) - np.median(before[ring])) <= 0.02 * np.median(before[ring])


def test_remove_lesion_is_a_healthy_fill_of_the_lesion_region(synthesizer, tumor_case):
    case = subset(tumor_case, ("t2", "flair"))
    result = synthesizer.remove_lesion(case)
    assert result.provenance["operation"] == "remove" and result.provenance["contrasts"] == ["t2", "flair"]
    region = sitk.GetArrayFromImage(result.region) > 0
    assert region[sitk.GetArrayFromImage(tumor_case.label) > 0].all()
    np.testing.assert_array_equal(arrays(result.case)["flair"][~region], arrays(case)["flair"][~region])


def test_an_empty_or_misplaced_mask_is_refused(synthesizer, healthy_case):
    empty = copy_geometry(np.zeros(healthy_case.reference.GetSize()[::-1], np.uint8), healthy_case.reference)
    with pytest.raises(CaseError, match="empty"):
        synthesizer.inpaint(healthy_case, empty)


def test_inpaint_command_fills_a_brats_2023_voided_t1(tmp_path, synthesizer, healthy_case, capsys):
    """``synthpathology inpaint`` on a BraTS 2023 inpainting case (a voided t1n and its mask)."""
    case_dir = tmp_path / "BraTS-GLI-00001-000"
    case_dir.mkdir()
    mask = hole_in_white_matter(healthy_case)
    hole = sitk.GetArrayFromImage(mask) > 0
    voided = sitk.GetArrayFromImage(healthy_case.images["t1"])
    voided[hole] = 0
    write_image(copy_geometry(voided, healthy_case.reference), case_dir / f"{case_dir.name}-t1n-voided.nii.gz")
    write_image(mask, case_dir / f"{case_dir.name}-mask.nii.gz")
    out = tmp_path / "out"
    args = ["inpaint", "--case", str(case_dir), "--mask", str(case_dir / f"{case_dir.name}-mask.nii.gz"),
            "--out", str(out), "--model", str(synthesizer.model.folder), "--device", "cpu"]
    assert cli.main(args) == 0
    assert "of t1 in" in capsys.readouterr().out
    written = out / f"{case_dir.name}-inpainted"
    filled = sitk.GetArrayFromImage(read_brats_case(written, contrasts=("t1",)).images["t1"])
    np.testing.assert_array_equal(filled[~hole], voided[~hole])
    assert (filled[hole] > 0).all()
    assert json.loads((written / "provenance.json").read_text())["contrasts"] == ["t1"]


def test_inpaint_command_refuses_a_mask_on_another_grid(tmp_path, synthesizer, healthy_case, capsys):
    case_dir = tmp_path / "Case-1"
    write_brats_case(subset(healthy_case, ("t2",)), case_dir)
    small = sitk.Image([8, 8, 8], sitk.sitkUInt8)
    write_image(small, tmp_path / "mask.nii.gz")
    args = ["inpaint", "--case", str(case_dir), "--mask", str(tmp_path / "mask.nii.gz"), "--out", str(tmp_path / "o"),
            "--model", str(synthesizer.model.folder), "--device", "cpu"]
    assert cli.main(args) == 2
    assert "inpainting mask" in capsys.readouterr().err


def test_synthesize_and_remove_commands_take_a_case_with_t1c_and_flair_only(tmp_path, synthesizer, tumor_case):
    case_dir = tmp_path / "Case-TF"
    write_brats_case(subset(tumor_case, ("t1c", "flair")), case_dir)
    model = ["--model", str(synthesizer.model.folder), "--device", "cpu"]
    assert cli.main(["remove", "--case", str(case_dir), "--out", str(tmp_path / "removed"), *model]) == 0
    removed = read_brats_case(tmp_path / "removed" / "Case-TF-healthy", contrasts=())
    assert sorted(removed.images) == ["flair", "t1c"]
    seed = ",".join(f"{v:.1f}" for v in seed_in_white_matter(tumor_case) * np.array([-1, -1, 1]))
    assert cli.main(["synthesize", "--case", str(case_dir), f"--seed-ras={seed}", "--diameter", "12",
                     "--out", str(tmp_path / "synthetic"), *model]) == 0
    folder = next(path for path in (tmp_path / "synthetic").iterdir() if path.is_dir())
    assert sorted(read_brats_case(folder, contrasts=()).images) == ["flair", "t1c"]
    assert json.loads((folder / "provenance.json").read_text())["contrasts"] == ["t1c", "flair"]
