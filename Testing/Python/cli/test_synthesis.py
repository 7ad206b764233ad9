"""The generator's command-line verbs, with a real (small, untrained) model folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.models import save_tiny_model, seed_in_white_matter

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.image_io import lps_to_ras, write_image
from SynthPathologyLib.io.brats import NAMINGS, find_brats_cases, read_brats_case, write_brats_case
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


def _labels(folder: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(read_brats_case(folder, contrasts=(), require_label=True).label)


def test_inserting_into_a_labelled_case_keeps_its_labels_with_a_gap_and_its_naming(model, tumor_case, tmp_path):
    """The written segmentation is the union: every existing label voxel stays; the new lesion keeps
    --gap-mm from it; 2021 files in give 2021 files out (ET = 4)."""
    from scipy import ndimage

    folder = write_brats_case(tumor_case, tmp_path / "in" / tumor_case.case_id, "2021")
    existing = sitk.GetArrayViewFromImage(tumor_case.label)
    # A seed on the other side of the brain from the existing tumour.
    centroid = np.asarray(tumor_case.label.TransformPhysicalPointToIndex(tuple(core_centroid_lps(tumor_case.label))))
    mirrored = list(centroid)
    mirrored[0] = tumor_case.reference.GetSize()[0] - 1 - centroid[0]
    seed_ras = lps_to_ras(tumor_case.reference.TransformIndexToPhysicalPoint([int(v) for v in mirrored]))
    out = tmp_path / "out"
    assert main(["synthesize", "--case", str(folder), "--seed-ras=" + ",".join(map(str, seed_ras)),
                 "--diameter", "16", "--model", str(model), "--out", str(out)]) == 0
    [written] = find_brats_cases(out)
    assert (written / f"{written.name}_seg.nii.gz").is_file()  # 2021 naming kept
    labels = _labels(written)
    assert np.array_equal(labels[existing > 0], existing[existing > 0])
    new = (labels > 0) & (existing == 0)
    assert new.sum() > 100
    distance = ndimage.distance_transform_edt(existing == 0, sampling=tumor_case.reference.GetSpacing()[::-1])
    assert distance[new].min() > 5.0


def test_a_seed_in_the_existing_lesion_is_refused_in_one_line(model, tumor_case, tmp_path, capsys):
    folder = write_brats_case(tumor_case, tmp_path / "in" / tumor_case.case_id)
    seed_ras = lps_to_ras(tuple(core_centroid_lps(tumor_case.label)))
    assert main(["synthesize", "--case", str(folder), "--seed-ras=" + ",".join(map(str, seed_ras)),
                 "--diameter", "16", "--model", str(model), "--out", str(tmp_path / "out")]) == 2
    assert "existing lesion" in capsys.readouterr().err


def _dataset_with_an_impossible_case(healthy_case, root: Path) -> Path:
    """The healthy case and a copy of it whose whole brain is labelled: no room for a new lesion."""
    write_brats_case(healthy_case, root / "A-healthy")
    full = sitk.Cast(healthy_case.mask() > 0, sitk.sitkUInt8) * 2
    write_brats_case(Case(dict(healthy_case.images), label=full, case_id="B-full"), root / "B-full")
    return root


def test_a_dataset_with_an_impossible_case_finishes_with_a_report(model, healthy_case, tmp_path, capsys):
    data = _dataset_with_an_impossible_case(healthy_case, tmp_path / "data")
    out = tmp_path / "out"
    assert main(["augment", "--data", str(data), "--model", str(model), "--diameter-range", "14", "20",
                 "--out", str(out)]) == 0
    assert [f.name for f in find_brats_cases(out)] == ["A-healthy-aug00"]
    report = json.loads((out / "report.json").read_text())
    assert report["written"] == ["A-healthy-aug00"]
    assert [s["case"] for s in report["skipped"]] == ["B-full-aug00"] and "no room" in report["skipped"][0]["reason"]
    assert "skipped 1" in capsys.readouterr().out
    # Nothing written at all is a failure.
    (data / "A-healthy").rename(tmp_path / "A-healthy")
    assert main(["augment", "--data", str(data), "--model", str(model), "--diameter-range", "14", "20",
                 "--out", str(tmp_path / "none")]) == 1


def test_commands_that_take_a_case_say_when_given_a_dataset(healthy_folder, tmp_path, capsys):
    assert main(["lesion", "--case", str(healthy_folder.parent), "--seed-ras", "0,0,0", "--diameter", "10",
                 "--out", str(tmp_path / "l.nii.gz")]) == 2
    assert "a dataset of 1 case(s), not a case folder" in capsys.readouterr().err
    assert main(["montage", "--case", str(healthy_folder.parent), "--out", str(tmp_path / "pngs")]) == 0
    assert (tmp_path / "pngs" / f"{healthy_folder.name}.png").is_file()


def test_a_killed_augment_resumes_without_duplicates_or_half_cases(model, healthy_case, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    data = tmp_path / "data"
    for name in ("A", "B"):
        write_brats_case(Case(dict(healthy_case.images), case_id=name), data / name)
    command = ["augment", "--data", str(data), "--model", str(model), "--per-case", "2",
               "--diameter-range", "14", "18", "--device", "cpu"]
    reference = tmp_path / "unbroken"
    assert main([*command, "--out", str(reference)]) == 0

    out = tmp_path / "resumed"
    process = subprocess.Popen([sys.executable, "-m", "SynthPathologyLib", *command, "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.is_dir() and find_brats_cases(out)):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # mid-dataset: after the first case, while others are being written
    process.wait()
    assert 1 <= len(find_brats_cases(out)) < 4
    assert main([*command, "--out", str(out)]) == 0

    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in reference.iterdir())  # no duplicate, no hidden partial folder
    for folder in find_brats_cases(reference):
        assert np.array_equal(_labels(folder), _labels(out / folder.name))
    assert json.loads((out / "report.json").read_text())["resumed"]


def test_a_lesion_too_large_for_a_case_is_shrunk_within_the_range_and_reported(model, healthy_folder, tmp_path):
    out = tmp_path / "out"
    assert main(["augment", "--data", str(healthy_folder.parent), "--model", str(model),
                 "--diameter-range", "50", "250", "--out", str(out)]) == 0
    [shrunk] = json.loads((out / "report.json").read_text())["shrunk"]
    assert shrunk["asked_mm"] == [50.0, 250.0] and 40.0 <= shrunk["used_mm"] < 250.0
    provenance = json.loads((out / shrunk["case"] / "provenance.json").read_text())
    assert max(provenance["lesion"]["diameters_mm"]) <= 1.2 * provenance["diameter_range_mm"][1]


def test_augment_and_synthesize_take_lesion_shapes_from_real_labels(model, healthy_folder, tumor_case, tmp_path):
    library = tmp_path / "library"
    write_image(NAMINGS["2021"].to_file(tumor_case.label), library / "A_seg.nii.gz")
    out = tmp_path / "augmented"
    assert main(["augment", "--data", str(healthy_folder.parent), "--label-library", str(library),
                 "--model", str(model), "--out", str(out)]) == 0
    [folder] = find_brats_cases(out)
    placement = json.loads((folder / "provenance.json").read_text())["lesion"]["library"]
    assert placement["source"] == "A_seg.nii.gz" and 0.8 <= placement["scale"] <= 1.2
    assert {1, 2, 3} <= set(np.unique(_labels(folder)).tolist())

    seed_ras = lps_to_ras(seed_in_white_matter(tumor_case))
    assert main(["synthesize", "--case", str(healthy_folder), "--label-from", str(library / "A_seg.nii.gz"),
                 "--seed-ras=" + ",".join(map(str, seed_ras)), "--model", str(model),
                 "--out", str(tmp_path / "one")]) == 0
    [one] = find_brats_cases(tmp_path / "one")
    centroid_ras = lps_to_ras(tuple(core_centroid_lps(read_brats_case(one, require_label=True).label)))
    assert np.linalg.norm(np.subtract(centroid_ras, seed_ras)) < 4.0


def test_mass_effect_moves_tissue_near_the_lesion_and_nothing_beyond_its_reach(model, healthy_folder, healthy_case,
                                                                               tmp_path):
    from scipy import ndimage

    seed_ras = lps_to_ras(seed_in_white_matter(healthy_case))
    out = tmp_path / "out"
    assert main(["synthesize", "--case", str(healthy_folder), "--seed-ras=" + ",".join(map(str, seed_ras)),
                 "--diameter", "24", "--mass-effect", "4", "--model", str(model), "--out", str(out)]) == 0
    [folder] = find_brats_cases(out)
    effect = json.loads((folder / "provenance.json").read_text())["mass_effect"]
    assert effect["displacement_mm"] == 4.0 and effect["reach_mm"] >= 10.0
    result = read_brats_case(folder)
    grid = healthy_case.reference
    z, y, x = np.meshgrid(*[np.arange(n) for n in grid.GetSize()[::-1]], indexing="ij")
    direction = np.reshape(grid.GetDirection(), (3, 3))
    points = np.asarray(grid.GetOrigin()) + (np.stack([x, y, z], -1) * np.asarray(grid.GetSpacing())) @ direction.T
    distance = np.linalg.norm(points - np.asarray(effect["center_lps"]), axis=-1)
    # The synthesis repaints the lesion and a 4 mm margin (the tiny model's); everything else is either
    # pushed (within the reach) or untouched (beyond it).
    repainted = ndimage.distance_transform_edt(_labels(folder) == 0, sampling=grid.GetSpacing()[::-1]) <= 4.0
    beyond = (distance > effect["core_radius_mm"] + effect["reach_mm"]) & ~repainted
    near = (distance > effect["core_radius_mm"] + 2) & (distance < effect["core_radius_mm"] + 10) & ~repainted
    for contrast, image in healthy_case.images.items():
        before, after = sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(result.images[contrast])
        assert np.array_equal(after[beyond], before[beyond])
        assert np.count_nonzero(after[near] != before[near]) > 0.5 * np.count_nonzero(near)


def test_evaluate_repaint_skips_a_case_it_cannot_repaint_and_reports_it(model, tumor_case, tmp_path):
    data = tmp_path / "real"
    write_brats_case(tumor_case, data / "A-tumor")
    broken = write_brats_case(Case(dict(tumor_case.images), label=tumor_case.label, case_id="B-broken"),
                              data / "B-broken")
    (broken / "B-broken-t2f.nii.gz").unlink()  # a case without its FLAIR cannot be repainted
    out = tmp_path / "repainted"
    assert main(["evaluate", "repaint", "--real", str(data), "--variants", "1", "--model", str(model),
                 "--out", str(out)]) == 0
    assert [f.name for f in find_brats_cases(out)] == ["A-tumor-repaint00"]
    [skipped] = json.loads((out / "report.json").read_text())["skipped"]
    assert skipped["case"] == "B-broken" and "flair" in skipped["reason"]
