"""The ``synthpathology`` command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.image_io import ras_to_lps
from SynthPathologyLib.io.brats import find_brats_cases, read_brats_case
from SynthPathologyLib.lesions.placement import core_centroid_lps

# Deep left-hemisphere white matter of the MNI152 brain (RAS mm): inside the brain for every
# phantom deformation.
WHITE_MATTER_RAS = (-26.0, -12.0, 28.0)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the command line in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "SynthPathologyLib", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def healthy_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("healthy")
    assert main(["phantom", "--cases", "1", "--out", str(out), "--resolution", "2", "--healthy", "--seed", "5"]) == 0
    return out


@pytest.mark.parametrize("command", [[], ["phantom"], ["lesion"], ["info"]])
def test_help_is_consistent(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: synthpathology")
    assert result.stderr == ""


def test_phantom_writes_brats_cases_that_info_summarizes(tmp_path, capsys):
    out = tmp_path / "phantoms"
    assert main(["phantom", "--cases", "2", "--out", str(out), "--resolution", "2", "--seed", "1"]) == 0
    folders = find_brats_cases(out)
    assert len(folders) == 2
    for folder in folders:
        case = read_brats_case(folder, require_label=True)
        assert case.reference.GetSpacing() == pytest.approx((2.0, 2.0, 2.0))
        assert set(np.unique(sitk.GetArrayViewFromImage(case.label))) == {0, 1, 2, 3}

    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 case(s)" in printed and "2 of 2 case(s) labelled" in printed
    assert "NCR" in printed and "ET" in printed


def test_healthy_phantom_has_empty_labels(healthy_dataset):
    case = read_brats_case(find_brats_cases(healthy_dataset)[0], require_label=True)
    assert not sitk.GetArrayViewFromImage(case.label).any()


@pytest.mark.parametrize("naming, et_value", [("2023", 3), ("2021", 4)])
def test_lesion_lands_at_the_ras_seed(healthy_dataset, tmp_path, naming, et_value):
    folder = find_brats_cases(healthy_dataset)[0]
    out = tmp_path / "lesion.nii.gz"
    seed = ",".join(str(v) for v in WHITE_MATTER_RAS)
    assert main(["lesion", "--case", str(folder), f"--seed-ras={seed}", "--diameter", "24",
                 "--random-seed", "3", "--out", str(out), "--naming", naming]) == 0
    label = sitk.ReadImage(str(out))
    case = read_brats_case(folder)
    assert label.GetSize() == case.reference.GetSize()
    assert set(np.unique(sitk.GetArrayViewFromImage(label))) == {0, 1, 2, et_value}
    internal = sitk.ChangeLabel(label, {4: 3}) if et_value == 4 else label
    distance = np.linalg.norm(core_centroid_lps(internal) - np.array(ras_to_lps(WHITE_MATTER_RAS)))
    assert distance < 3.0


def test_seed_outside_the_brain_is_a_one_line_error(healthy_dataset, tmp_path):
    folder = find_brats_cases(healthy_dataset)[0]
    result = run_cli("lesion", "--case", str(folder), "--seed-ras", "0,0,200", "--diameter", "20",
                     "--out", str(tmp_path / "x.nii.gz"))
    assert result.returncode == 2
    assert result.stderr.startswith("synthpathology lesion: error:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.nii.gz").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "{tmp}/corrupt.nii.gz"], "corrupt.nii.gz: cannot read image"),
        (["info", "{tmp}/nothing"], "nothing: no such file or folder"),
        (["lesion", "--case", "{tmp}", "--seed-ras", "0,0,0", "--diameter", "10", "--out", "{tmp}/l.nii.gz"],
         "no BraTS image files found"),
        (["phantom", "--cases", "1", "--out", "{tmp}/p", "--t1", "{tmp}/t1.nii.gz"], "--t1 and --mask go together"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(tmp_path, args, message):
    (tmp_path / "corrupt.nii.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_option_values_are_refused_by_the_parser():
    result = run_cli("lesion", "--case", ".", "--seed-ras", "1,2", "--diameter", "10", "--out", "x.nii.gz")
    assert result.returncode == 2
    assert "expected three comma-separated numbers" in result.stderr


def test_contrasts_on_different_grids_are_refused_unless_resampled(healthy_dataset, tmp_path, capsys):
    import shutil

    from SynthPathologyLib.core.image_io import write_image

    folder = shutil.copytree(find_brats_cases(healthy_dataset)[0], tmp_path / "case")
    flair_path = next(folder.glob("*-t2f.nii.gz"))
    flair = sitk.ReadImage(str(flair_path))
    flair.SetOrigin(tuple(o + 1.0 for o in flair.GetOrigin()))
    write_image(flair, flair_path)
    seed = ",".join(str(v) for v in WHITE_MATTER_RAS)
    args = ["lesion", "--case", str(folder), f"--seed-ras={seed}", "--diameter", "20", "--out", str(tmp_path / "l.nii.gz")]
    assert main(args) == 2
    assert "--resample" in capsys.readouterr().err
    assert main([*args, "--resample"]) == 0
