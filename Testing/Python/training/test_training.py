"""Training (``synthpathology train``): the loss falls, a resumed run continues exactly, DDP runs with
gloo on two processes through the old ``python -m SynthPathologyLib.train`` entry point, checkpoints
hold plain state, a healthy held-out case validates healthy inpainting, and bad data gets clear
errors (a held-out case that cannot be validated before the first step)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from SynthPathologyLib.cli import main as cli
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.models.checkpoints import load_checkpoint
from SynthPathologyLib.models.generator import load_model
from SynthPathologyLib.phantom.dataset import write_phantom_dataset
from SynthPathologyLib.phantom.generator import PhantomOptions
from SynthPathologyLib.training.validation import healthy_validation_mask, read_held_out_cases

ROOT = Path(__file__).resolve().parents[3]
# fp32: bf16 instance norms on the discriminator's 3-voxel maps of a 24^3 patch can overflow, and
# fp32 makes CPU runs bit-reproducible for the resume test.
TINY = ["--set", "patch_size=[24,24,24]", "--set", "network={channels: [4, 8, 16], strides: [2, 2]}",
        "--set", "precision=fp32",
        "--set", "margin_mm=4", "--set", "batch_size=1", "--set", "validate_every=1000",
        "--set", "validation_cases=1", "--no-progress"]
CONTRASTS = ("t1", "t1c", "t2", "flair")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phantoms")
    write_phantom_dataset(out, 3, seed=2, options=PhantomOptions(resolution_mm=2.0), progress=False)
    return out


def main(args: list[str]) -> int:
    return cli.main(["train", *args])


def losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def test_l1_loss_falls_well_below_its_start(dataset, tmp_path):
    run = tmp_path / "run"
    args = ["--data", str(dataset), "--out", str(run), *TINY, "--set", "steps=30", "--set", "lr_generator=2e-3",
            "--set", "healthy_fraction=0", "--set", "adversarial_weight=0.1", "--set", "checkpoint_every=30"]
    assert main(args) == 0
    l1 = [row["loss_l1"] for row in losses(run)]
    assert len(l1) == 30
    assert sum(l1[-5:]) / 5 < 0.6 * sum(l1[:5]) / 5
    model = load_model(run / "model")
    assert model.card.training["steps"] == 30
    assert {"mae_region", "psnr", "ssim"} <= set(model.card.metrics)
    assert (run / "config.yaml").exists()
    logged = EventAccumulator(str(run / "tensorboard")).Reload().Tags()
    assert {"train/loss_l1", "validation/psnr"} <= set(logged["scalars"])
    assert logged["images"] == ["validation/real_synthetic_label"]


def test_resume_continues_with_the_same_losses(dataset, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["--data", str(dataset), *TINY, "--set", "checkpoint_every=3"]
    assert main([*common, "--out", str(straight), "--set", "steps=6"]) == 0
    assert main([*common, "--out", str(resumed), "--set", "steps=3"]) == 0
    assert main([*common, "--out", str(resumed), "--set", "steps=6", "--resume"]) == 0
    a, b = losses(straight), losses(resumed)
    assert [row["step"] for row in b] == [1, 2, 3, 4, 5, 6]
    for x, y in zip(a, b):
        for key in ("loss_d", "loss_g", "loss_l1"):
            assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-6), (x["step"], key)


def test_a_second_run_into_the_same_folder_is_refused(dataset, tmp_path, capsys):
    args = ["--data", str(dataset), "--out", str(tmp_path / "run"), *TINY, "--set", "steps=1"]
    assert main(args) == 0
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_two_process_ddp_with_gloo(dataset, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533",
         "-m", "SynthPathologyLib.train", "--data", str(dataset), "--out", str(run), *TINY, "--set", "steps=2",
         "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [row["step"] for row in losses(run)] == [1, 2]
    training = load_model(run / "model").card.training
    assert training["hardware"].startswith("2 x")
    assert training["command"].startswith("synthpathology train --data ")


def test_train_is_a_synthpathology_command(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["train", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--resume" in out and "Resources/Training/glioma_phantom.yaml" in out


def test_slicer_script_form_runs_the_same_entry_point(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "SynthPathologyLib" / "train.py"), "--help"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0
    assert "--resume" in result.stdout


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "no BraTS case folders"),
    (lambda root: _case_without_label(root), "missing label"),
])
def test_bad_datasets_exit_2_with_a_message(dataset, tmp_path, capsys, setup, message):
    data = tmp_path / "data"
    data.mkdir()
    setup(data)
    assert main(["--data", str(data), "--out", str(tmp_path / "run"), *TINY, "--set", "validation_cases=0"]) == 2
    assert message in capsys.readouterr().err


def _case_without_label(root: Path) -> None:
    write_phantom_dataset(root, 1, seed=3, options=PhantomOptions(resolution_mm=2.0), progress=False)
    for seg in root.glob("*/*-seg.nii.gz"):
        seg.unlink()


def test_unknown_setting_is_refused(dataset, tmp_path, capsys):
    assert main(["--data", str(dataset), "--out", str(tmp_path / "r"), "--set", "stpes=3"]) == 2
    assert "unknown training settings ['stpes']" in capsys.readouterr().err


def test_checkpoint_holds_plain_state(dataset, tmp_path):
    run = tmp_path / "run"
    assert main(["--data", str(dataset), "--out", str(run), *TINY, "--set", "steps=1"]) == 0
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 1
    assert all(isinstance(v, torch.Tensor) for v in state["generator"].values())


@pytest.fixture(scope="module")
def with_healthy(tmp_path_factory, healthy_case) -> Path:
    """Two glioma phantoms and, last by name, a healthy phantom (an empty segmentation)."""
    out = tmp_path_factory.mktemp("with_healthy")
    write_phantom_dataset(out, 2, seed=2, options=PhantomOptions(resolution_mm=2.0), progress=False)
    write_brats_case(healthy_case, out / healthy_case.case_id)
    return out


def test_a_healthy_held_out_case_validates_healthy_inpainting(with_healthy, tmp_path):
    run = tmp_path / "run"
    assert main(["--data", str(with_healthy), "--out", str(run), *TINY, "--set", "steps=2",
                 "--set", "validation_cases=2"]) == 0
    metrics = load_model(run / "model").card.metrics
    assert {"mae_region", "psnr", "ssim", "healthy_mae_region", "healthy_psnr", "healthy_ssim"} <= set(metrics)
    assert all(math.isfinite(value) for value in metrics.values())


def test_a_held_out_case_without_segmentation_gets_a_fixed_healthy_mask(tmp_path, tumor_case, healthy_case):
    unlabelled = write_brats_case(Case(healthy_case.images, case_id="Unlabelled"), tmp_path / "Unlabelled")
    lesion = write_brats_case(tumor_case, tmp_path / tumor_case.case_id)
    held = read_held_out_cases([unlabelled, lesion], CONTRASTS, (24, 24, 24), (4.0, 16.0))
    assert held[1].healthy_mask is None  # its lesion is repainted
    mask = sitk.GetArrayFromImage(held[0].healthy_mask) > 0
    brain = sitk.GetArrayFromImage(healthy_case.mask()) > 0
    assert mask.any() and not (mask & ~brain).any()
    assert np.array_equal(mask, healthy_validation_mask(healthy_case, (24, 24, 24), (4.0, 16.0)))


def _missing_contrast(folder: Path, case: Case) -> None:
    write_brats_case(Case({c: case.images[c] for c in ("t1", "t1c", "t2")}, case_id=folder.name), folder)


def _blank_images(folder: Path, case: Case) -> None:
    write_brats_case(Case({c: image * 0 for c, image in case.images.items()}, case_id=folder.name), folder)


@pytest.mark.parametrize("break_case, message", [
    (_missing_contrast, "missing flair"),
    (_blank_images, "no brain voxels"),
])
def test_a_held_out_case_that_cannot_be_validated_is_refused_before_any_step(tmp_path, capsys, tumor_case,
                                                                              healthy_case, break_case, message):
    data, run = tmp_path / "data", tmp_path / "run"
    write_brats_case(tumor_case, data / "Case-a")
    break_case(data / "Case-b", healthy_case)
    assert main(["--data", str(data), "--out", str(run), *TINY, "--set", "steps=1"]) == 2
    error = capsys.readouterr().err.strip()
    assert "held-out case Case-b cannot be validated" in error and message in error and "\n" not in error
    assert not run.exists()  # no step ran: no config, losses or checkpoint
