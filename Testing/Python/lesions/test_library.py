"""The label library: real segmentations (any grid, BraTS 2021 or 2023 values) placed as lesions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.errors import CaseError
from SynthPathologyLib.core.image_io import resample_like, write_image
from SynthPathologyLib.io.brats import NAMINGS
from SynthPathologyLib.lesions.library import library_files, place_library_lesion, read_library_label
from SynthPathologyLib.lesions.placement import core_centroid_lps, place_label_map, placement_transform


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


@pytest.fixture(scope="module")
def library(tumor_case, tmp_path_factory):
    """The phantom's tumour written as a BraTS 2021 file on a 1.5 mm grid."""
    fine = sitk.Image([int(n * 2 / 1.5) for n in tumor_case.label.GetSize()], sitk.sitkUInt8)
    fine.SetSpacing((1.5,) * 3)
    fine.SetOrigin(tumor_case.label.GetOrigin())
    fine.SetDirection(tumor_case.label.GetDirection())
    folder = tmp_path_factory.mktemp("library")
    write_image(NAMINGS["2021"].to_file(resample_like(tumor_case.label, fine, is_label=True)),
                folder / "cases" / "A_seg.nii.gz")
    return folder


def test_a_2021_file_on_another_grid_is_read_in_internal_values(library):
    [path] = library_files(library)
    label = read_library_label(path)
    assert set(np.unique(sitk.GetArrayViewFromImage(label)).tolist()) == {0, 1, 2, 3}
    assert label.GetSpacing() == (1.5, 1.5, 1.5)


def test_a_library_lesion_keeps_its_shape_after_the_inverse_placement(library, tumor_case):
    """Placed (rotated, scaled, moved) and mapped back by the inverse transform, the lesion is itself."""
    source = read_library_label(library_files(library)[0])
    target = sitk.Image(tumor_case.reference.GetSize(), sitk.sitkUInt8) + 1  # a brain everywhere
    target.CopyInformation(tumor_case.reference)
    center = target.TransformContinuousIndexToPhysicalPoint([n / 2 + 3 for n in target.GetSize()])
    scale, orientation = 1.15, (20.0, 40.0, 70.0)
    placed = place_label_map(source, target, center, target, scale=scale, orientation_deg=orientation)
    transform = placement_transform(core_centroid_lps(source), center, scale, orientation)
    back = sitk.Resample(placed, source, transform.GetInverse(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    original, returned = sitk.GetArrayViewFromImage(source), sitk.GetArrayViewFromImage(back)
    assert _dice(original > 0, returned > 0) > 0.85
    for value in (1, 2, 3):
        assert _dice(original == value, returned == value) > 0.7


def test_a_random_placement_stays_in_the_room_out_of_csf(library, tumor_phantom):
    source = read_library_label(library_files(library)[0])
    room = sitk.Cast(tumor_phantom.tissues.brain_mask, sitk.sitkUInt8)
    csf = sitk.GetArrayViewFromImage(tumor_phantom.tissues.csf) > 0.5
    placed, placement = place_library_lesion(source, room, tumor_phantom.tissues.wm, csf,
                                             np.random.default_rng(3), "cases/A_seg.nii.gz")
    array = sitk.GetArrayViewFromImage(placed)
    assert array.any() and not array[sitk.GetArrayViewFromImage(room) == 0].any()
    core = np.isin(array, (1, 3))
    assert np.count_nonzero(core & csf) <= 0.05 * np.count_nonzero(core)
    assert 0.8 <= placement.scale <= 1.2 and 0.5 <= placement.core_kept <= 1.05


def test_a_file_without_a_core_and_an_empty_library_are_refused(tmp_path):
    write_image(sitk.Image(5, 5, 5, sitk.sitkUInt8), tmp_path / "empty_seg.nii.gz")
    with pytest.raises(CaseError, match="no tumour core"):
        read_library_label(tmp_path / "empty_seg.nii.gz")
    (tmp_path / "none").mkdir()
    with pytest.raises(CaseError, match="no segmentation files"):
        library_files(tmp_path / "none")
