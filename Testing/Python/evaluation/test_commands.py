"""The ``evaluate`` verbs end to end on tiny datasets cut from the 2 mm phantom: fidelity with a
repainted synthetic set and a small trained segmenter, the leakage rule, a tiny downstream run,
and clear errors for bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.models import save_tiny_model

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.voxel_box import bounding_box
from SynthPathologyLib.evaluation.datasets import synthetic_entries
from SynthPathologyLib.evaluation.errors import LeakageError
from SynthPathologyLib.evaluation.segmenter import load_segmenter
from SynthPathologyLib.evaluation.splits import check_no_leakage, make_split, patient_of
from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.models.card import CARD_FILE, ModelFileError

N_REAL = 5


def _cropped(case: Case, box: tuple[slice, ...], flip: tuple[int, ...], case_id: str) -> Case:
    """The case cut to ``box`` (z, y, x) with its arrays flipped on ``flip`` axes: another patient."""
    def cut(image: sitk.Image) -> sitk.Image:
        array = np.flip(sitk.GetArrayFromImage(image)[box], flip) if flip else sitk.GetArrayFromImage(image)[box]
        out = sitk.GetImageFromArray(np.ascontiguousarray(array))
        reference = image[tuple(slice(s.start, s.stop) for s in reversed(box))]
        out.CopyInformation(reference)
        return out

    return Case({c: cut(i) for c, i in case.images.items()}, label=cut(case.label), brain_mask=cut(case.mask()),
                case_id=case_id)


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory, tumor_case) -> Path:
    """Five real 'patients': the tumor phantom's lesion neighbourhood, flipped five ways."""
    root = tmp_path_factory.mktemp("real")
    box = bounding_box(sitk.GetArrayViewFromImage(tumor_case.label) > 0, pad_voxels=4)
    for index, flip in enumerate([(), (0,), (1,), (2,), (0, 2)][:N_REAL]):
        write_brats_case(_cropped(tumor_case, box, flip, f"Real-{index:02d}"), root / f"Real-{index:02d}")
    return root


def _copy_as_synthetic(real_dir: Path, out: Path, sources: list[str]) -> Path:
    """Synthetic cases standing in for ``augment`` output: copies of real cases with provenance."""
    from SynthPathologyLib.io.brats import read_brats_case

    for source in sources:
        case = read_brats_case(real_dir / source, require_label=True)
        case.case_id = f"{source}-aug00"
        folder = write_brats_case(case, out / case.case_id)
        (folder / "provenance.json").write_text(json.dumps({"source_case": source, "random_seed": 0}))
    return out


@pytest.fixture(scope="module")
def segmenter_dir(tmp_path_factory, real_dir) -> Path:
    out = tmp_path_factory.mktemp("segmenter") / "tiny"
    assert main(["evaluate", "train-segmenter", "--data", str(real_dir), "--out", str(out), "--steps", "2", "--validation-cases", "1",
                       "--patch", "24", "--init-filters", "2", "--model-id", "tiny", "--device", "cpu"]) == 0
    return out


def test_fidelity_writes_every_metric(real_dir, segmenter_dir, tmp_path):
    model = save_tiny_model(tmp_path / "generator")
    two_real = tmp_path / "two"
    for name in ("Real-00", "Real-01"):
        (two_real / name).mkdir(parents=True)
        for file in (real_dir / name).iterdir():
            (two_real / name / file.name).write_bytes(file.read_bytes())
    synthetic = tmp_path / "synthetic"
    assert main(["evaluate", "repaint", "--real", str(two_real), "--out", str(synthetic), "--variants", "2",
                 "--model", str(model), "--device", "cpu"]) == 0
    assert [e.source_case for e in synthetic_entries(synthetic)] == ["Real-00", "Real-00", "Real-01", "Real-01"]

    out = tmp_path / "fidelity"
    assert main(["evaluate", "fidelity", "--real", str(real_dir), "--synthetic", str(synthetic), "--out", str(out),
                 "--segmenter", str(segmenter_dir), "--device", "cpu", "--frd-slices", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_real"] == N_REAL and metrics["n_synthetic"] == 4
    assert metrics["paired"]["n"] == 4  # every repaint has its real counterpart
    assert 0 < metrics["paired"]["mae_all"]["mean"] and metrics["paired"]["psnr_flair"]["mean"] > 0
    for contrast in ("t1", "t1c", "t2", "flair"):  # artifact measures of every repaint, with a CI
        for key in (f"checkerboard_{contrast}", f"band_bias_{contrast}"):
            assert all(math.isfinite(metrics["paired"][key][k]) for k in ("mean", "ci_low", "ci_high")), key
    assert metrics["diversity"]["seeds"] == 2  # two variants of each of two cases
    assert 0 < metrics["diversity"]["ms_ssim"]["mean"] <= 1
    for metric in ("fid", "kid", "mmd_linear", "precision", "recall"):
        assert set(metrics["distribution"][metric]) == {"synthetic", "synthetic_sd", "baseline", "baseline_sd"}
    for contrast in ("t1", "t1c", "t2", "flair"):  # FRD of every contrast beside its patient-level baseline
        frd = metrics["frd"][contrast]
        assert math.isfinite(frd["synthetic"]) and frd["n"]["patients_per_set"] == 2
        # the real 'patients' are flips of one phantom: their FRD may be -inf (JSON null), else a number
        assert frd["baseline"] is None or math.isfinite(frd["baseline"])
    # a 2-step segmenter does not find the lesions: the report says its figures are not to be trusted
    assert metrics["segmenter"]["trusted"] is False and "not to be trusted" in metrics["segmenter"]["warning"]
    assert set(metrics["label_consistency"]["synthetic"]) == {
        f"{k}_{r}" for k in ("dice", "hd95_mm") for r in ("WT", "TC", "ET")}
    with open(out / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert sorted(r["kind"] for r in rows) == ["real"] * N_REAL + ["synthetic"] * 4
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "real vs real (baseline)" in summary and "MS-SSIM" in summary and "Fréchet Radiomics" in summary
    assert "**Warning:**" in summary


def test_classifier_command_reports_auc_with_patient_folds(real_dir, tmp_path, capsys):
    synthetic = _copy_as_synthetic(real_dir, tmp_path / "synthetic", ["Real-00", "Real-01", "Real-02"])
    out = tmp_path / "classifier"
    args = ["evaluate", "classifier", "--real", str(real_dir), "--synthetic", str(synthetic), "--out", str(out),
            "--slices", "1", "--contrasts", "t1,flair"]
    assert main(args + ["--folds", "3"]) == 0
    result = json.loads((out / "classifier.json").read_text())
    assert result["n"]["cases"] == N_REAL + 3 and result["n"]["patients"] == N_REAL
    for key in ("accuracy", "roc_auc"):
        assert result[key]["ci_low"] <= result[key]["value"] <= result[key]["ci_high"]
    assert result["top_features"][0]["feature"].split(":")[0] in ("t1", "flair")
    with open(out / "classifier.csv") as stream:
        folds = {(row["patient"], row["fold"]) for row in csv.DictReader(stream)}
    assert len(folds) == N_REAL  # a copy is tested in its source patient's fold
    assert "ROC AUC" in capsys.readouterr().out
    assert main(args + ["--folds", "6", "--out", str(tmp_path / "refused")]) == 2
    assert "6 classifier folds need at least 6 patients, got 5" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_split_keeps_patients_together():
    ids = ["BraTS-GLI-00001-000", "BraTS-GLI-00001-001", "BraTS-GLI-00002-000", "BraTS-GLI-00003-000"]
    assert patient_of(ids[1]) == "BraTS-GLI-00001" and patient_of("Phantom-00003") == "Phantom-00003"
    for seed in range(5):
        split = make_split(ids, 0.5, seed)
        assert {patient_of(c) for c in split.train}.isdisjoint(split.test_patients)
        assert sorted(split.train + split.test) == sorted(ids)


def test_leakage_rule_refuses_synthetic_cases_from_test_patients(real_dir, tmp_path):
    synthetic = _copy_as_synthetic(real_dir, tmp_path / "synthetic", ["Real-00", "Real-01", "Real-02", "Real-03"])
    split = make_split([f"Real-{i:02d}" for i in range(N_REAL)], 0.4, seed=0)
    entries = synthetic_entries(synthetic)
    with pytest.raises(LeakageError, match="derive from test patients") as refused:
        check_no_leakage(split, entries)
    leaked = [e for e in entries if e.source_case in split.test]
    assert leaked and all(e.case_id in str(refused.value) for e in leaked)
    check_no_leakage(split, [e for e in entries if e not in leaked])  # the rest is allowed


def test_downstream_refuses_a_leaking_setup(real_dir, tmp_path, capsys):
    synthetic = _copy_as_synthetic(real_dir, tmp_path / "synthetic", [f"Real-{i:02d}" for i in range(N_REAL)])
    code = main(["evaluate", "downstream", "--real", str(real_dir), "--synthetic", str(synthetic), "--out",
                 str(tmp_path / "out"), "--test-fraction", "0.4", "--steps", "1"])
    assert code == 2
    message = capsys.readouterr().err.strip()
    assert "derive from test patients" in message and "--drop-leaking" in message and len(message.splitlines()) == 1


def test_tiny_downstream_run_writes_every_output(real_dir, tmp_path):
    synthetic = _copy_as_synthetic(real_dir, tmp_path / "synthetic", [f"Real-{i:02d}" for i in range(N_REAL)])
    out = tmp_path / "out"
    assert main(["evaluate", "downstream", "--real", str(real_dir), "--synthetic", str(synthetic), "--out", str(out),
                 "--fractions", "0.5,1", "--ratios", "0,1", "--seeds", "1", "--test-fraction", "0.4",
                 "--steps", "2", "--patch", "24", "--init-filters", "2", "--drop-leaking", "--device", "cpu"]) == 0
    split = json.loads((out / "split.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert len(split["test"]) == 2 and len(split["train"]) == 3
    # Only synthetic cases painted into training patients were used.
    assert sorted(summary["dropped_leaking"]) == sorted(f"{c}-aug00" for c in split["test"])
    assert summary["n_synthetic_available"] == 3
    with open(out / "scores.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert {r["case_id"] for r in rows} == set(split["test"])  # tested on real test cases only
    assert len(rows) == 2 * 2 * 2 * 3  # fractions x ratios x test cases x regions
    results = {(r["fraction"], r["ratio"], r["region"]): r for r in summary["results"]}
    assert len(results) == 2 * 2 * 3
    gain = results[1.0, 1.0, "WT"]["gain"]["dice"]
    assert set(gain) == {"mean_gain", "ci_low", "ci_high", "wilcoxon_p", "n"} and gain["n"] == 2
    assert set(results[1.0, 1.0, "WT"]["gain"]) == {"dice", "hd95_mm", "lesion_dice", "lesion_hd95_mm"}
    for row in rows:  # lesion-wise scores (BraTS ranking) beside the voxel-wise ones
        assert 0 <= float(row["lesion_dice"]) <= 1 and float(row["lesion_hd95_mm"]) >= 0
        assert int(row["lesions_tp"]) + int(row["lesions_fn"]) <= 1  # one phantom lesion per region
    assert "gain" not in results[1.0, 0.0, "WT"]
    assert (out / "dice.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_ratio_needing_more_synthetic_cases_than_usable_is_refused_before_training(real_dir, tmp_path, capsys):
    synthetic = _copy_as_synthetic(real_dir, tmp_path / "synthetic", [f"Real-{i:02d}" for i in range(N_REAL)])
    out = tmp_path / "out"
    # 3 training patients: ratio 2 at fraction 1 needs 6 synthetic cases; 3 remain once the two
    # painted into test patients are left out.
    code = main(["evaluate", "downstream", "--real", str(real_dir), "--synthetic", str(synthetic), "--out", str(out),
                 "--ratios", "0,2", "--test-fraction", "0.4", "--steps", "1", "--drop-leaking", "--device", "cpu"])
    assert code == 2
    message = capsys.readouterr().err.strip()
    assert "ratio 2 at fraction 1 needs 6 synthetic cases, but 3 may be used (2 left out as leaking)" in message
    assert len(message.splitlines()) == 1
    assert not (out / "split.json").exists()  # refused before the split was written or anything trained


def test_empty_folders_are_refused_clearly(real_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "fidelity", "--real", str(tmp_path / "empty"), "--synthetic", str(real_dir),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--real" in err and "no BraTS case folders found (empty dataset)" in err


def test_bad_synthetic_input_is_refused_clearly(real_dir, segmenter_dir, tmp_path, capsys):
    synthetic = _copy_as_synthetic(real_dir, tmp_path / "synthetic", ["Real-00"])
    folder = synthetic / "Real-00-aug00"
    (folder / "provenance.json").unlink()
    args = ["evaluate", "fidelity", "--real", str(real_dir), "--synthetic", str(synthetic), "--out",
            str(tmp_path / "out"), "--segmenter", str(segmenter_dir)]
    assert main(args) == 2
    assert "no provenance.json" in capsys.readouterr().err
    (folder / "provenance.json").write_text(json.dumps({"source_case": "Real-00"}))
    next(folder.glob("*-t2f.nii.gz")).unlink()  # no FLAIR: contrasts differ from the real cases'
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "does not match the evaluated contrasts t1, t1c, t2, flair" in err and "missing flair" in err


def test_ratios_without_the_real_only_arm_are_refused(real_dir, tmp_path, capsys):
    assert main(["evaluate", "downstream", "--real", str(real_dir), "--synthetic", str(real_dir), "--out",
                 str(tmp_path), "--ratios", "1,2"]) == 2
    assert "must include 0" in capsys.readouterr().err


def test_segmenter_card_is_schema_checked(segmenter_dir, tmp_path):
    loaded = load_segmenter(segmenter_dir)
    assert loaded.card.model_id == "tiny" and len(loaded.sha256) == 64
    assert set(loaded.card.metrics) >= {"WT", "TC", "ET", "held_out_cases"}
    bad = tmp_path / "bad"
    bad.mkdir()
    for file in segmenter_dir.iterdir():
        (bad / file.name).write_bytes(file.read_bytes())
    card = json.loads((bad / CARD_FILE).read_text())
    (bad / CARD_FILE).write_text(json.dumps({**card, "weights_path": "../../etc/passwd"}))
    with pytest.raises(ModelFileError, match="unknown fields \\['weights_path'\\]"):
        load_segmenter(bad)
    (bad / CARD_FILE).write_text(json.dumps({**card, "init_filters": 3}))
    with pytest.raises(ModelFileError, match="weights do not fit"):
        load_segmenter(bad)


def test_shipped_segmenter_gives_lesion_features(tumor_case):
    from SynthPathologyLib.evaluation.segmenter import encoder_features, network_input

    shipped = load_segmenter()
    assert shipped.card.model_id == "glioma_phantom_segresnet" and shipped.card.spacing_mm == [2.0, 2.0, 2.0]
    features = encoder_features(shipped, network_input(tumor_case, shipped.card))
    # 4 + 8 + 16 + 32 pooled channels of the four encoder levels
    assert features.shape == (60,) and np.isfinite(features).all()
