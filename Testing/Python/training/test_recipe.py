"""The v2 training recipe on tiny configs: the resize-convolution generator with contrast dropout,
margin-band, mode-seeking and feature-matching terms trains and resumes exactly; further real datasets
give healthy patches clear of their lesion masks; held-out cases are left out of every source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.cli import main as cli
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.image_io import write_image
from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.models.generator import load_model
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.phantom.dataset import write_phantom_dataset
from SynthPathologyLib.phantom.generator import PhantomOptions, make_phantom_case
from SynthPathologyLib.synthesis.synthesizer import Synthesizer
from SynthPathologyLib.training.case_cache import CachedCase
from SynthPathologyLib.training.config import load_config
from SynthPathologyLib.training.data import PatchSampler, contrast_subset
from SynthPathologyLib.training.sources import cached_cases, real_case_folders, split_cases

V2 = ["--set", "patch_size=[24,24,24]", "--set", "precision=fp32", "--set", "margin_mm=4", "--set", "batch_size=1",
      "--set", "network={architecture: resize_unet, channels: [4, 8, 16], strides: [2, 2], discriminator_channels: 4}",
      "--set", "contrast_dropout=0.5", "--set", "appearance_augment=true", "--set", "band_weight=1",
      "--set", "diversity_weight=1", "--set", "feature_matching_weight=1", "--set", "validate_every=1000",
      "--no-progress"]
CONTRASTS = ("t1", "t1c", "t2", "flair")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phantoms")
    write_phantom_dataset(out, 3, seed=2, options=PhantomOptions(resolution_mm=2.0, appearance_spread=0.15),
                          progress=False)
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """A 'real' dataset of two cases without segmentation, each with a ``-lesion`` mask (as the MS cases)."""
    out = tmp_path_factory.mktemp("real")
    for index, seed in enumerate((11, 12)):
        phantom = make_phantom_case(seed, PhantomOptions(resolution_mm=2.0), case_id=f"Real-{index}")
        folder = write_brats_case(Case(phantom.case.images, case_id=phantom.case.case_id), out / phantom.case.case_id)
        write_image(sitk.Cast(phantom.case.label > 0, sitk.sitkUInt8), folder / f"{phantom.case.case_id}-lesion.nii.gz")
    return out


def losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def test_v2_recipe_trains_resumes_exactly_and_serves_a_subset(phantoms, real, tmp_path, tumor_case):
    common = ["train", "--data", str(phantoms), *V2, "--set", "checkpoint_every=1", "--set", f"real_data=[{real}]",
              "--set", "validation_cases=0"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert cli.main([*common, "--out", str(straight), "--set", "steps=2"]) == 0
    assert cli.main([*common, "--out", str(resumed), "--set", "steps=1"]) == 0
    assert cli.main([*common, "--out", str(resumed), "--set", "steps=2", "--resume"]) == 0
    a, b = losses(straight), losses(resumed)
    assert [row["step"] for row in b] == [1, 2]
    assert {"loss_band", "loss_diversity", "loss_feature_matching"} <= set(a[0])
    for x, y in zip(a, b):
        for key in x:
            assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-6), (x["step"], key)
    model = load_model(straight / "model")
    assert model.card.network["architecture"] == "resize_unet"
    case = Case({c: tumor_case.images[c] for c in ("t1c", "flair")}, label=tumor_case.label, case_id="two")
    assert Synthesizer(model, device="cpu").synthesize(case, case.label).provenance["contrasts"] == ["t1c", "flair"]


def test_real_cases_give_healthy_patches_clear_of_their_lesion_masks(phantoms, real, tmp_path):
    config = load_config(None, ["patch_size=[32,32,32]", "real_fraction=1", "healthy_fraction=0",
                                "network={architecture: resize_unet, channels: [4, 8, 16], strides: [2, 2]}",
                                "contrast_dropout=1"])
    cases = cached_cases(split_cases(phantoms, 1)[0], CONTRASTS, tmp_path, progress=False)
    real_cases = cached_cases(real_case_folders([real]), CONTRASTS, tmp_path, progress=False, require_label=False)
    whole = tuple(slice(0, n) for n in real_cases[0].shape)
    assert all(c.window("avoid", whole).any() and not c.window("label", whole).any() for c in real_cases)
    sampler = PatchSampler(cases, get_pathology("glioma"), config, real_cases=real_cases)
    batch = sampler.batch(0, 6)
    assert batch.lesion.sum() == 0  # no segmentation: healthy patches only
    assert batch.region.sum() > 0
    # Missing contrasts are zero channels flagged unavailable, and at least one contrast is kept.
    flags = batch.available[:, :, 0, 0, 0]
    assert (flags.sum(1) >= 1).all() and (flags == 0).any()
    assert (batch.condition[:, :4][flags == 0] == 0).all()
    assert (batch.condition[:, 4:8, 0, 0, 0] == flags).all()


class AvoidMarked(CachedCase):
    """A cached case whose avoided voxels read -7 in the first contrast (no real voxel does)."""

    def image(self, box):
        image = super().image(box)
        image[0][self.window("avoid", box)] = -7.0
        return image


def test_avoided_tissue_is_never_in_a_healthy_region(phantoms, real, tmp_path):
    """Each real case's lesion mask, seen through the sampler's own crops, stays outside the region."""
    config = load_config(None, ["patch_size=[32,32,32]", "real_fraction=1", "healthy_fraction=1"])
    real_cases = [AvoidMarked(**vars(case)) for case in
                  cached_cases(real_case_folders([real]), CONTRASTS, tmp_path, progress=False, require_label=False)]
    cases = cached_cases(split_cases(phantoms, 1)[0], CONTRASTS, tmp_path, progress=False)
    batch = PatchSampler(cases, get_pathology("glioma"), config, real_cases=real_cases).batch(3, 8)
    assert not (batch.target[:, :1][batch.region > 0] == -7.0).any()


def test_excluded_cases_are_left_out_of_every_source(phantoms, real):
    train, held = split_cases(phantoms, 1, exclude=["Phantom-00000"])
    assert "Phantom-00000" not in [f.name for f in train + held]
    assert [f.name for f in real_case_folders([real], exclude=["Real-0"])] == ["Real-1"]


def test_contrast_subsets_are_never_empty():
    rng = np.random.default_rng(0)
    subsets = {tuple(contrast_subset(rng, 4)) for _ in range(200)}
    assert len(subsets) == 15 and (False,) * 4 not in subsets


@pytest.mark.parametrize("setting, message", [
    ("contrast_dropout=0.5", "needs a generator with availability channels"),
    ("healthy_radius_mm=[5, 1]", "healthy_radius_mm"),
])
def test_inconsistent_recipes_are_refused(setting, message):
    with pytest.raises(Exception, match=message):
        load_config(None, [setting])
