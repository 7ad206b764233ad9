"""Several lesions in one case and the other pathologies on the command line (issue 19):
``synthesize`` at several seeds, ``--count`` and ``--lesion-load``; ``augment`` following
``--pathology``; ``lesion`` and ``phantom`` of metastasis and MS; conflicting options refused. Tiny
untrained models on 2 mm phantoms: the tests look at labels, places and untouched voxels, not at
how the lesions look."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.models import save_tiny_model, seed_in_white_matter
from scipy import ndimage

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.image_io import lps_to_ras, voxel_points_lps
from SynthPathologyLib.io.brats import find_brats_cases, read_brats_case, write_brats_case
from SynthPathologyLib.lesions.placement import core_centroid_lps

MARGIN_MM = 4.0  # the tiny model's synthesis margin around a lesion
GLIOMA_CORE = (1, 3)  # NCR, ET (metastasis: NETC, ET)
MS_LABELS = {0, 1, 2}  # background, chronic plaque, enhancing plaque


@pytest.fixture(scope="module")
def glioma_model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("glioma"))


@pytest.fixture(scope="module")
def metastasis_model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("metastasis"), pathology="metastasis")


@pytest.fixture(scope="module")
def ms_model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("ms"), pathology="ms")


@pytest.fixture(scope="module")
def healthy_folder(tmp_path_factory, healthy_case) -> Path:
    return write_brats_case(healthy_case, tmp_path_factory.mktemp("data") / healthy_case.case_id)


def seed_option(lps) -> str:
    return "--seed-ras=" + ",".join(f"{v:.2f}" for v in lps_to_ras(tuple(lps)))


def labels_of(folder: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(read_brats_case(folder, contrasts=(), require_label=True).label)


def provenance_of(folder: Path) -> dict:
    return json.loads((folder / "provenance.json").read_text())


def core_pieces(label: np.ndarray, core_values=GLIOMA_CORE) -> tuple[np.ndarray, int]:
    """The lesions' cores, one connected piece (26-connected) each."""
    return ndimage.label(np.isin(label, core_values), structure=np.ones((3, 3, 3)))


def volume_ml(voxels: np.ndarray, grid: sitk.Image) -> float:
    return float(np.count_nonzero(voxels) * np.prod(grid.GetSpacing()) / 1000)


def test_two_seeds_give_a_lesion_at_each_beside_the_existing_one(glioma_model, tumor_case, tmp_path, capsys):
    folder = write_brats_case(tumor_case, tmp_path / "in" / tumor_case.case_id)
    grid = tumor_case.reference
    # Two seeds 36 mm apart in the hemisphere across from the case's own tumour.
    x, y, z = grid.TransformPhysicalPointToIndex(tuple(core_centroid_lps(tumor_case.label)))
    seeds = [grid.TransformIndexToPhysicalPoint((grid.GetSize()[0] - 1 - x, y + dy, z)) for dy in (-10, 8)]
    out = tmp_path / "out"
    assert main(["synthesize", "--case", str(folder), *map(seed_option, seeds), "--diameter", "10", "--edema-mm", "3",
                 "--random-seed", "4", "--variants", "2", "--model", str(glioma_model), "--out", str(out)]) == 0
    written, other = find_brats_cases(out)
    assert f"wrote {written}: 2 lesion(s)" in capsys.readouterr().out

    existing, labels = sitk.GetArrayFromImage(tumor_case.label), labels_of(written)
    assert np.array_equal(labels[existing > 0], existing[existing > 0])
    new = np.where(existing == 0, labels, 0)
    pieces, count = core_pieces(new)
    assert count == 2
    for seed in seeds:
        piece = pieces[grid.TransformPhysicalPointToIndex(seed)[::-1]]
        assert piece > 0
        centroid = voxel_points_lps(grid, np.argwhere(pieces == piece)).mean(axis=0)
        assert np.linalg.norm(centroid - np.asarray(seed)) < 3.0

    # Beyond the margin of both new lesions every voxel is the input's: the existing tumour's included.
    untouched = ndimage.distance_transform_edt(new == 0, sampling=grid.GetSpacing()[::-1]) > MARGIN_MM
    after = read_brats_case(written)
    for contrast, image in tumor_case.images.items():
        before = sitk.GetArrayViewFromImage(image)
        assert np.array_equal(sitk.GetArrayViewFromImage(after.images[contrast])[untouched], before[untouched])

    listed = [entry["lesion"] for entry in provenance_of(written)["lesions"]]
    assert [lesion["random_seed"] for lesion in listed] == [4, 5]
    assert np.allclose([lesion["center_lps"] for lesion in listed], seeds, atol=0.01)
    assert [entry["lesion"]["random_seed"] for entry in provenance_of(other)["lesions"]] == [6, 7]


def test_a_seed_beside_an_earlier_seeds_lesion_is_refused_in_one_line(glioma_model, healthy_folder, healthy_case,
                                                                        tmp_path, capsys):
    first = np.asarray(seed_in_white_matter(healthy_case))
    assert main(["synthesize", "--case", str(healthy_folder), seed_option(first), seed_option(first + (0, 8, 0)),
                 "--diameter", "10", "--model", str(glioma_model), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("synthpathology synthesize: error: seed 2 at RAS (") and len(error.splitlines()) == 1
    assert "lies within 5 mm of the lesion of an earlier seed" in error


def test_count_draws_that_many_lesions_of_the_pathology(metastasis_model, healthy_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["synthesize", "--case", str(healthy_folder), "--count", "3", "--pathology", "metastasis",
                 "--model", str(metastasis_model), "--out", str(out)]) == 0
    [written] = find_brats_cases(out)
    assert f"wrote {written}: 3 lesion(s)" in capsys.readouterr().out
    assert set(np.unique(labels_of(written)).tolist()) <= {0, 1, 2, 3}
    assert core_pieces(labels_of(written))[1] == 3
    provenance = provenance_of(written)
    assert [entry["lesion"]["pathology"] for entry in provenance["lesions"]] == ["metastasis"] * 3
    assert provenance["lesion_count"] == 3 and provenance["diameter_range_mm"] == [3.0, 30.0]


def test_a_lesion_load_is_reached_by_the_lesions_cores(metastasis_model, healthy_folder, healthy_case, tmp_path):
    out = tmp_path / "out"
    assert main(["synthesize", "--case", str(healthy_folder), "--lesion-load", "2", "--diameter-range", "6", "10",
                 "--model", str(metastasis_model), "--out", str(out)]) == 0
    [written] = find_brats_cases(out)
    core_ml = volume_ml(np.isin(labels_of(written), GLIOMA_CORE), healthy_case.reference)
    # The last lesion may pass the load, by at most one core of 10 mm (+10% per axis): 0.7 ml.
    assert 2.0 <= core_ml < 2.7
    provenance = provenance_of(written)
    assert provenance["lesion_load_ml"] == 2.0 and len(provenance["lesions"]) >= 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["synthesize", "--seed-ras=0,0,0", "--count", "2"], "argument --count: not allowed with argument --seed-ras"),
        (["synthesize", "--count", "2", "--lesion-load", "3"],
         "argument --lesion-load: not allowed with argument --count"),
        (["synthesize"], "one of the arguments --seed-ras --count --lesion-load is required"),
        (["synthesize", "--count", "2", "--diameter", "10", "--enhancing", "no"],
         "error: --diameter, --enhancing: an option of lesions at --seed-ras; --count and --lesion-load draw each"),
        (["synthesize", "--lesion-load", "2", "--label-from", "{tmp}/seg.nii.gz"],
         "error: --label-from: an option of lesions at --seed-ras"),
        (["synthesize", "--seed-ras=0,0,0", "--diameter", "10", "--diameter-range", "5", "10"],
         "error: --diameter-range sizes the random lesions of --count and --lesion-load"),
        (["synthesize", "--count", "2", "--diameter-range", "10", "5"],
         "argument --diameter-range: needs 0 < MIN <= MAX (mm), got 10 5"),
        (["synthesize", "--lesion-load", "0"], "argument --lesion-load: must be a number above 0, got 0"),
        (["augment", "--lesions", "2", "--lesion-load", "1"], "argument --lesion-load: not allowed with argument"),
        (["augment", "--label-library", "{tmp}", "--lesions", "2"],
         "error: --label-library places one library lesion per output case"),
        (["phantom", "--cases", "1", "--healthy", "--lesions", "1", "2"], "error: --healthy cases hold no lesion"),
        (["phantom", "--cases", "1", "--lesions", "3", "1"], "error: --lesions needs MIN <= MAX, got 3 1"),
        (["phantom", "--cases", "1", "--pathology", "nosuch"], "error: unknown pathology 'nosuch'"),
    ],
)
def test_conflicting_lesion_options_are_refused_in_one_line(args, message, tmp_path, capsys):
    where = {"synthesize": ["--case", "{tmp}"], "augment": ["--data", "{tmp}"], "phantom": []}[args[0]]
    command = [a.format(tmp=tmp_path) for a in [*args, *where, "--out", "{tmp}/out"]]
    try:
        status = main(command)
    except SystemExit as exit_info:  # the parser's refusal: its usage, then the one line
        status = exit_info.code
        lines = capsys.readouterr().err.strip().splitlines()[-1:]
    else:
        lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    [line] = lines
    assert message in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("pathology", "options", "values"),
    [
        ("ms", [], {0, 1}),  # a chronic plaque: no edema, no necrosis
        ("ms", ["--enhancing", "yes"], {0, 2}),
        ("glioma", ["--enhancing", "no", "--necrosis", "0"], {0, 1, 2}),  # a non-enhancing core is all label 1
        ("metastasis", ["--necrosis", "0.5"], {0, 1, 2, 3}),
    ],
)
def test_the_lesion_command_builds_the_pathologys_lesion(pathology, options, values, healthy_folder, healthy_case,
                                                         tmp_path):
    out = tmp_path / "lesion.nii.gz"
    assert main(["lesion", "--case", str(healthy_folder), seed_option(seed_in_white_matter(healthy_case)),
                 "--diameter", "14", "--pathology", pathology, *options, "--out", str(out)]) == 0
    assert set(np.unique(sitk.GetArrayViewFromImage(sitk.ReadImage(str(out)))).tolist()) == values


def test_phantom_writes_cases_of_the_pathology_with_the_asked_lesions(tmp_path):
    out = tmp_path / "ms"
    assert main(["phantom", "--cases", "1", "--out", str(out), "--resolution", "2", "--pathology", "ms",
                 "--lesions", "3", "3", "--seed", "2"]) == 0
    [folder] = find_brats_cases(out)
    values = set(np.unique(labels_of(folder)).tolist())
    assert values <= MS_LABELS and values - {0}
    written = json.loads((folder / "phantom.json").read_text())
    assert written["options"]["pathology"] == "ms" and written["options"]["lesion_count"] == [3, 3]
    assert len(written["lesions"]) == 3


def test_augment_with_a_lesion_load_writes_small_plaques_of_the_load(ms_model, healthy_folder, healthy_case,
                                                                     tmp_path):
    out = tmp_path / "out"
    assert main(["augment", "--data", str(healthy_folder.parent), "--pathology", "ms", "--lesion-load", "2",
                 "--model", str(ms_model), "--out", str(out)]) == 0
    [written] = find_brats_cases(out)
    labels = labels_of(written)
    assert set(np.unique(labels).tolist()) <= MS_LABELS
    grid = healthy_case.reference
    # The last plaque may pass the load, by at most one of 15 mm (+10% per axis): 2.4 ml.
    assert 2.0 <= volume_ml(labels > 0, grid) < 4.4
    pieces, count = core_pieces(labels, (1, 2))
    assert count >= 2 and all(volume_ml(pieces == k, grid) < 2.4 for k in range(1, count + 1))
    provenance = provenance_of(written)
    assert provenance["diameter_range_mm"] == [3.0, 15.0]  # MS's, the default
    assert {entry["lesion"]["pathology"] for entry in provenance["lesions"]} == {"ms"}


def test_augment_draws_the_pathologys_number_of_lesions_per_case(metastasis_model, healthy_folder, tmp_path):
    out = tmp_path / "out"
    assert main(["augment", "--data", str(healthy_folder.parent), "--pathology", "metastasis", "--per-case", "2",
                 "--model", str(metastasis_model), "--out", str(out)]) == 0
    counts = []
    for written in find_brats_cases(out):
        provenance = provenance_of(written)
        counts.append(len(provenance["lesions"]))
        assert provenance["diameter_range_mm"][0] == 3.0  # metastasis's range (its top may have shrunk)
        assert core_pieces(labels_of(written))[1] == counts[-1]
    assert len(counts) == 2 and all(1 <= n <= 3 for n in counts)
