"""BraTS 2023 inpainting metrics against the official package's file-based scoring and by hand."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.models import save_tiny_model
from inpainting.challenge_metrics_2023 import compute_image_quality_metrics

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.image_io import copy_geometry
from SynthPathologyLib.evaluation.errors import EvaluationError
from SynthPathologyLib.evaluation.inpainting import brats_inpainting_metrics
from SynthPathologyLib.io.brats import write_brats_case

SHAPE = (10, 12, 14)  # z, y, x: x differs from z so that an axis-order mistake changes the SSIM


def volumes(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(real, inpainted, healthy mask): a smooth image with noise, a box inpainted with a blurred guess."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(SHAPE)
    real = (200 + 50 * np.sin(x / 3) + 30 * z - 10 * y + rng.normal(0, 20, SHAPE)).astype(np.float32)
    mask = np.zeros(SHAPE, np.uint8)
    mask[3:8, 4:9, 2:11] = 1
    inpainted = real.copy()
    inpainted[mask > 0] = real[mask > 0].mean() + rng.normal(0, 15, int(mask.sum()))
    return real, inpainted, mask


def image(array: np.ndarray) -> sitk.Image:
    result = sitk.GetImageFromArray(array)
    result.SetSpacing((1.0, 1.2, 1.5))
    return result


def test_figures_are_the_packages_own_scoring_of_the_files(tmp_path):
    real, inpainted, mask = volumes()
    voided = np.where(mask > 0, 0, real).astype(np.float32)
    paths = {}
    for name, array in {"t1n": real, "inference": inpainted, "mask-healthy": mask, "t1n-voided": voided}.items():
        paths[name] = str(tmp_path / f"case-{name}.nii.gz")
        sitk.WriteImage(image(array), paths[name])
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the paths it scores
        official = compute_image_quality_metrics(paths["inference"], paths["mask-healthy"], paths["t1n"],
                                                 paths["t1n-voided"])
    ours = brats_inpainting_metrics(*(sitk.ReadImage(paths[n]) for n in ("t1n", "inference", "mask-healthy")))
    assert ours.keys() == official.keys()
    for key, value in official.items():
        assert ours[key] == pytest.approx(value, rel=1e-5), key
    assert 0 < ours["ssim"] < 1 and ours["psnr"] > 0


def test_mse_and_psnr_match_a_hand_computation_on_the_percentile_scale():
    real, inpainted, mask = volumes(1)
    inside = mask > 0
    low, high = np.percentile(np.where(inside, 0, real), [0.5, 99.5])
    low = max(low, 0.0)
    scale = lambda a: (np.clip(a[inside], low, high) - low) / (high - low)  # noqa: E731
    truth, guess = scale(real), scale(inpainted)
    mse = np.mean((truth - guess) ** 2)
    scores = brats_inpainting_metrics(real, inpainted, mask)
    assert scores["mse"] == pytest.approx(mse, rel=1e-4)
    assert scores["mae"] == pytest.approx(np.mean(np.abs(truth - guess)), rel=1e-4)
    assert scores["psnr_01"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-4)
    assert scores["psnr"] == pytest.approx(10 * np.log10((truth.max() - truth.min()) ** 2 / mse), rel=1e-4)


def test_a_perfect_inpainting_scores_ssim_1_and_mse_0():
    real, _, mask = volumes()
    scores = brats_inpainting_metrics(real, real.copy(), mask)
    assert scores["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert scores["mse"] == 0 and np.isfinite(scores["psnr_01_eps"])


def test_bad_input_gets_one_line_errors():
    real, inpainted, mask = volumes()
    shifted = image(mask)
    shifted.SetOrigin((5.0, 0.0, 0.0))
    with pytest.raises(EvaluationError, match="another voxel grid"):
        brats_inpainting_metrics(image(real), image(inpainted), shifted)
    with pytest.raises(EvaluationError, match="shape"):
        brats_inpainting_metrics(real, inpainted, mask[:, :, :-1])
    with pytest.raises(EvaluationError, match="empty"):
        brats_inpainting_metrics(real, inpainted, np.zeros_like(mask))
    broken = inpainted.copy()
    broken[0, 0, 0] = np.nan
    with pytest.raises(EvaluationError, match="NaN"):
        brats_inpainting_metrics(real, broken, mask)


def write_inpainting_dataset(root: Path, n_cases: int = 2) -> dict[str, Path]:
    """BraTS 2023 layout: real/<case>/<case>-t1n + mask-healthy + t1n-voided; inpainted/<case>-t1n-inference."""
    folders = {role: root / role for role in ("real", "inpainted")}
    for index in range(n_cases):
        case_id = f"BraTS-GLI-{index:05d}-000"
        real, inpainted, mask = volumes(index)
        (folders["real"] / case_id).mkdir(parents=True)
        folders["inpainted"].mkdir(exist_ok=True)
        for name, array in {"t1n": real, "mask-healthy": mask,
                            "t1n-voided": np.where(mask > 0, 0, real).astype(np.float32)}.items():
            sitk.WriteImage(image(array), str(folders["real"] / case_id / f"{case_id}-{name}.nii.gz"))
        sitk.WriteImage(image(inpainted), str(folders["inpainted"] / f"{case_id}-t1n-inference.nii.gz"))
    return folders


def run_inpainting(folders: dict[str, Path], out: Path) -> int:
    return main(["evaluate", "inpainting", "--real", str(folders["real"]), "--inpainted", str(folders["inpainted"]),
                 "--masks", str(folders["real"]), "--out", str(out)])


def test_command_scores_each_case_and_writes_json_and_csv(tmp_path, capsys):
    folders = write_inpainting_dataset(tmp_path)
    assert run_inpainting(folders, tmp_path / "out") == 0
    report = json.loads((tmp_path / "out" / "inpainting.json").read_text())
    with open(tmp_path / "out" / "inpainting.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert report["n_cases"] == 2 and [row["case"] for row in rows] == ["BraTS-GLI-00000-000", "BraTS-GLI-00001-000"]
    expected = brats_inpainting_metrics(*volumes(1))
    assert float(rows[1]["ssim"]) == pytest.approx(expected["ssim"], rel=1e-5)
    assert rows[1]["normalization"] == "t1n-voided"
    mean = report["metrics"]["mse"]
    assert mean["mean"] == pytest.approx(np.mean([float(row["mse"]) for row in rows]))
    assert mean["ci_low"] < mean["mean"] < mean["ci_high"]
    assert "SSIM" in capsys.readouterr().out


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f["inpainted"] / "BraTS-GLI-00001-000-t1n-inference.nii.gz").unlink(),
     "BraTS-GLI-00001-000 (inpainted)"),
    (lambda f: sitk.WriteImage(image(volumes()[2][:, :, :-2]), str(
        f["real"] / "BraTS-GLI-00000-000" / "BraTS-GLI-00000-000-mask-healthy.nii.gz")), "another voxel grid"),
])
def test_command_refuses_missing_cases_and_masks_on_another_grid(tmp_path, capsys, damage, message):
    folders = write_inpainting_dataset(tmp_path)
    damage(folders)
    assert run_inpainting(folders, tmp_path / "out") == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "out" / "inpainting.json").exists()


def test_task_from_labelled_cases_runs_through_inpaint_and_is_scored(tmp_path, tumor_case):
    """evaluate inpainting-task -> inpaint (a tiny model) -> evaluate inpainting, on the 2 mm phantom."""
    write_brats_case(tumor_case, tmp_path / "real" / "Phantom-00", "2023")
    task = tmp_path / "task"
    assert main(["evaluate", "inpainting-task", "--real", str(tmp_path / "real"), "--out", str(task)]) == 0
    folder = task / "Phantom-00"
    read = {s: sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"Phantom-00-{s}.nii.gz")))
            for s in ("t1n", "t1n-voided", "t2f-voided", "mask", "mask-healthy", "mask-unhealthy")}
    lesion = sitk.GetArrayFromImage(tumor_case.label) > 0
    healthy = read["mask-healthy"] > 0
    assert np.array_equal(read["mask-unhealthy"] > 0, lesion) and healthy.sum() > 0
    assert not (healthy & lesion).any() and (healthy <= lesion[:, :, ::-1]).all()  # mirrored, off the lesion
    assert np.array_equal(read["mask"] > 0, healthy | lesion)
    assert (read["t1n-voided"][read["mask"] > 0] == 0).all() and (read["t2f-voided"][read["mask"] > 0] == 0).all()
    assert np.array_equal(read["t1n-voided"][read["mask"] == 0], read["t1n"][read["mask"] == 0])

    model = save_tiny_model(tmp_path / "model")
    assert main(["inpaint", "--case", str(folder), "--mask", str(folder / "Phantom-00-mask.nii.gz"),
                 "--out", str(tmp_path / "inpainted"), "--model", str(model), "--device", "cpu"]) == 0
    assert main(["evaluate", "inpainting", "--real", str(task), "--inpainted", str(tmp_path / "inpainted"),
                 "--masks", str(task), "--out", str(tmp_path / "scores")]) == 0
    report = json.loads((tmp_path / "scores" / "inpainting.json").read_text())
    assert report["cases"][0]["normalization"] == "t1n-voided"
    assert all(math.isfinite(report["metrics"][key]["mean"]) for key in ("ssim", "psnr", "mse"))


def test_task_refuses_a_lesion_whose_mirror_is_not_healthy(tmp_path, tumor_case, capsys):
    label = sitk.GetArrayFromImage(tumor_case.label)
    case = Case(dict(tumor_case.images), label=copy_geometry(np.maximum(label, label[:, :, ::-1]), tumor_case.label),
                case_id="Phantom-00")
    write_brats_case(case, tmp_path / "real" / "Phantom-00", "2023")
    assert main(["evaluate", "inpainting-task", "--real", str(tmp_path / "real"), "--out", str(tmp_path / "task")]) == 2
    assert "across the midline" in capsys.readouterr().err
    assert not any((tmp_path / "task").iterdir())
