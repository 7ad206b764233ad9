"""Cases and BraTS folders: both namings round-trip, label conventions translate, bad cases are
refused with messages that name the file."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.case import Case, load_case
from SynthPathologyLib.core.errors import CaseError, GridMismatchError
from SynthPathologyLib.core.image_io import same_grid, write_image
from SynthPathologyLib.io.brats import (
    contrast_from_name,
    find_brats_cases,
    iter_brats_dataset,
    read_brats_case,
    write_brats_case,
)

CONTRASTS = ("t1", "t1c", "t2", "flair")


def small_case(case_id: str = "Case-001", shape=(10, 12, 14), spacing=(1.0, 1.0, 1.5)) -> Case:
    """Four contrasts with a brain block of non-zero voxels and a nested glioma label."""
    rng = np.random.default_rng(7)
    images = {}
    for i, contrast in enumerate(CONTRASTS):
        array = np.zeros(shape, np.int16)
        array[2:-2, 2:-2, 2:-2] = rng.integers(100, 1000, (shape[0] - 4, shape[1] - 4, shape[2] - 4)) + i
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(spacing)
        image.SetOrigin((-10.0, 5.0, 2.0))
        images[contrast] = image
    label = np.zeros(shape, np.uint8)
    label[3:8, 3:9, 3:10] = 2
    label[4:7, 4:8, 4:9] = 3
    label[5, 5:7, 5:8] = 1
    label_image = sitk.GetImageFromArray(label)
    label_image.CopyInformation(images["t1"])
    return Case(images, label=label_image, case_id=case_id)


def arrays(case: Case) -> dict[str, np.ndarray]:
    out = {c: sitk.GetArrayFromImage(i) for c, i in case.images.items()}
    out["label"] = sitk.GetArrayFromImage(case.label)
    return out


@pytest.mark.parametrize(
    "naming, names, et_in_file",
    [
        ("2023", ["X-t1n.nii.gz", "X-t1c.nii.gz", "X-t2w.nii.gz", "X-t2f.nii.gz", "X-seg.nii.gz"], 3),
        ("2021", ["X_t1.nii.gz", "X_t1ce.nii.gz", "X_t2.nii.gz", "X_flair.nii.gz", "X_seg.nii.gz"], 4),
    ],
)
def test_case_round_trips_in_both_namings(tmp_path, naming, names, et_in_file):
    case = small_case("X")
    folder = write_brats_case(case, tmp_path / "X", naming=naming)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / names[-1])))
    assert set(np.unique(stored)) == {0, 1, 2, et_in_file}

    back = read_brats_case(folder)
    assert back.case_id == "X"
    assert back.contrasts == list(CONTRASTS)
    for key, array in arrays(case).items():
        np.testing.assert_array_equal(arrays(back)[key], array, err_msg=key)
    assert same_grid(back.reference, case.reference)


def test_2021_segmentation_with_value_3_is_refused(tmp_path):
    folder = write_brats_case(small_case("X"), tmp_path / "X", naming="2021")
    seg = folder / "X_seg.nii.gz"
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(seg)))
    array[array == 4] = 3
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(small_case().reference)
    write_image(image, seg)
    with pytest.raises(CaseError, match=r"X_seg.nii.gz: label values \[3\] are not BraTS 2021 labels"):
        read_brats_case(folder)


def test_missing_contrast_names_the_expected_file(tmp_path):
    folder = write_brats_case(small_case("X"), tmp_path / "X")
    (folder / "X-t2f.nii.gz").unlink()
    with pytest.raises(CaseError, match=r"missing flair \(expected X-t2f.nii.gz\)"):
        read_brats_case(folder)
    assert read_brats_case(folder, contrasts=("t1",)).contrasts == ["t1", "t1c", "t2"]


def test_missing_label_is_refused_only_when_required(tmp_path):
    folder = write_brats_case(small_case("X"), tmp_path / "X")
    (folder / "X-seg.nii.gz").unlink()
    assert read_brats_case(folder).label is None
    with pytest.raises(CaseError, match="missing label"):
        read_brats_case(folder, require_label=True)


def test_folder_without_brats_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CaseError, match="no BraTS image files found"):
        read_brats_case(tmp_path)


def test_two_files_for_one_contrast_are_refused(tmp_path):
    folder = write_brats_case(small_case("X"), tmp_path / "X")
    write_image(small_case().images["t1"], folder / "X-t1n.nrrd")
    with pytest.raises(CaseError, match="several files for t1"):
        read_brats_case(folder)


def test_contrast_on_another_grid_is_refused_then_resampled_on_request(tmp_path):
    folder = write_brats_case(small_case("X"), tmp_path / "X")
    moved = small_case().images["t2"]
    moved.SetOrigin((0.0, 0.0, 0.0))
    write_image(moved, folder / "X-t2w.nii.gz")
    with pytest.raises(GridMismatchError, match=r"X-t2w.nii.gz is on a different grid .* --resample"):
        read_brats_case(folder)
    case = read_brats_case(folder, resample=True)
    assert same_grid(case.images["t2"], case.reference)


def test_label_values_outside_the_pathology_are_refused(tmp_path):
    case = small_case()
    write_image(case.images["t1"], tmp_path / "t1.nii.gz")
    bad = sitk.GetArrayFromImage(case.label)
    bad[0, 0, 0] = 7
    bad_image = sitk.GetImageFromArray(bad)
    bad_image.CopyInformation(case.reference)
    write_image(bad_image, tmp_path / "seg.nii.gz")
    with pytest.raises(CaseError, match=r"seg.nii.gz: label values \[7\] are not glioma labels"):
        load_case({"t1": tmp_path / "t1.nii.gz"}, label=tmp_path / "seg.nii.gz")


def test_missing_contrasts_are_named():
    full = small_case()
    partial = Case({"t1": full.images["t1"], "t2": full.images["t2"]}, case_id="P")
    with pytest.raises(CaseError, match=r"case P: missing contrast\(s\) t1c, flair"):
        partial.require_contrasts(CONTRASTS)


def test_derived_brain_mask_is_the_filled_non_zero_region():
    case = small_case()
    for contrast in CONTRASTS:
        array = sitk.GetArrayFromImage(case.images[contrast])
        array[5, 6, 7] = 0
        image = sitk.GetImageFromArray(array)
        image.CopyInformation(case.reference)
        case.images[contrast] = image
    mask = sitk.GetArrayFromImage(case.mask())
    expected = np.zeros_like(mask)
    expected[2:-2, 2:-2, 2:-2] = 1
    np.testing.assert_array_equal(mask, expected)


def test_label_volumes_are_in_millilitres():
    volumes = small_case(spacing=(2.0, 2.0, 2.0)).label_volumes_ml()
    assert volumes[1] == pytest.approx(1 * 2 * 3 * 8 / 1000)
    assert sum(volumes.values()) == pytest.approx(5 * 6 * 7 * 8 / 1000)


def test_unsafe_case_id_is_refused(tmp_path):
    with pytest.raises(CaseError, match="cannot be a file name"):
        write_brats_case(small_case("../escape"), tmp_path / "x")


def test_dataset_reader_walks_case_folders_in_order(tmp_path):
    for case_id, naming in (("B-002", "2021"), ("A-001", "2023")):
        write_brats_case(small_case(case_id), tmp_path / case_id, naming=naming)
    (tmp_path / "README.txt").write_text("not a case")
    (tmp_path / "empty").mkdir()
    assert [p.name for p in find_brats_cases(tmp_path)] == ["A-001", "B-002"]
    cases = list(iter_brats_dataset(tmp_path, require_label=True))
    assert [c.case_id for c in cases] == ["A-001", "B-002"]
    for case in cases:
        assert set(np.unique(sitk.GetArrayFromImage(case.label))) == {0, 1, 2, 3}


def test_empty_dataset_is_refused(tmp_path):
    with pytest.raises(CaseError, match="no BraTS case folders"):
        list(iter_brats_dataset(tmp_path))


@pytest.mark.parametrize(
    "name, contrast",
    [
        ("BraTS-GLI-00001-000-t1c", "t1c"),
        ("BraTS2021_00000_t1ce", "t1c"),
        ("BraTS-GLI-00001-000-t2f", "flair"),
        ("Patient FLAIR", "flair"),
        ("T2 FLAIR", "flair"),
        ("T1 Gd", "t1c"),
        ("DefaultBrain T1", "t1"),
        ("t2w", "t2"),
        ("scan 3", None),
        ("t1 and t2", None),
    ],
)
def test_contrast_is_read_from_volume_names(name, contrast):
    assert contrast_from_name(name) == contrast
