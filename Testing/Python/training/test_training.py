"""Training: the loss falls, a resumed run continues exactly, DDP runs with gloo on two
processes, checkpoints are safe to load, and bad data gets clear errors."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from SynthPathologyLib.models.generator import ModelFileError, load_checkpoint, load_model
from SynthPathologyLib.phantom.generator import PhantomOptions, write_phantom_dataset
from SynthPathologyLib.training.loop import main

ROOT = Path(__file__).resolve().parents[3]
# fp32: bf16 instance norms on the discriminator's 3-voxel maps of a 24^3 patch can overflow, and
# fp32 makes CPU runs bit-reproducible for the resume test.
TINY = ["--set", "patch_size=[24,24,24]", "--set", "network={channels: [4, 8, 16], strides: [2, 2]}",
        "--set", "precision=fp32",
        "--set", "margin_mm=4", "--set", "batch_size=1", "--set", "validate_every=1000", "--no-progress"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phantoms")
    write_phantom_dataset(out, 3, seed=2, options=PhantomOptions(resolution_mm=2.0), progress=False)
    return out


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
         "-m", "SynthPathologyLib.training.loop", "--data", str(dataset), "--out", str(run), *TINY, "--set", "steps=2",
         "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [row["step"] for row in losses(run)] == [1, 2]
    assert load_model(run / "model").card.training["hardware"].startswith("2 x")


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


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_checkpoint_carrying_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as stream:
        pickle.dump({"step": 1, "payload": _Exploit(marker)}, stream)
    with pytest.raises(ModelFileError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_checkpoint_holds_plain_state(dataset, tmp_path):
    run = tmp_path / "run"
    assert main(["--data", str(dataset), "--out", str(run), *TINY, "--set", "steps=1"]) == 0
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 1
    assert all(isinstance(v, torch.Tensor) for v in state["generator"].values())
