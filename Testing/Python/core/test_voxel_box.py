"""Voxel boxes and label checks that run on whole 1 mm volumes at every synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.errors import CaseError
from SynthPathologyLib.core.labels import unknown_label_values
from SynthPathologyLib.core.voxel_box import bounding_box, box_within, on_box


@pytest.mark.parametrize("seed", range(5))
def test_bounding_box_is_the_tightest_box_of_the_nonzero_voxels(seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros((23, 31, 17), np.uint8)
    points = rng.integers(0, mask.shape, size=(int(rng.integers(1, 6)), 3))
    mask[tuple(points.T)] = rng.integers(1, 4, len(points))
    box = bounding_box(mask[:, ::-1][:, ::-1])  # a non-contiguous view of the same voxels
    assert box == tuple(slice(int(p.min()), int(p.max()) + 1) for p in points.T)
    grown = bounding_box(mask.astype(bool), pad_voxels=(2, 40, 0))
    assert grown == (slice(max(box[0].start - 2, 0), min(box[0].stop + 2, 23)), slice(0, 31), box[2])


def test_a_box_array_moves_onto_another_box_of_the_same_grid():
    grid = np.arange(6 * 7 * 8).reshape(6, 7, 8)
    box = (slice(1, 4), slice(2, 7), slice(0, 5))
    target = (slice(2, 6), slice(0, 4), slice(3, 8))
    moved = on_box(grid[box], box, target)
    reached = np.zeros(grid.shape, bool)
    reached[box] = True
    assert np.array_equal(moved, np.where(reached[target], grid[target], 0))
    assert not on_box(grid[box], box, (slice(4, 6), slice(0, 2), slice(0, 8))).any()  # no overlap
    inner = (slice(0, 2), slice(1, 3), slice(2, 5))
    assert np.array_equal(grid[box][inner], grid[box_within(inner, box)])


def test_unknown_label_values_are_listed_whatever_the_range():
    label = sitk.GetImageFromArray(np.array([[[0, 1, 3]]], np.uint8))
    assert unknown_label_values(label, {1, 2, 3}) == []
    assert unknown_label_values(label, {1, 2, 4}) == [3]  # BraTS 2021 file values
    assert unknown_label_values(sitk.GetImageFromArray(np.array([[[0, 7, -1]]], np.int16)), {1, 2, 3}) == [-1, 7]
    assert unknown_label_values(sitk.GetImageFromArray(np.array([[[0.0, 2.5]]], np.float32)), {1, 2, 3}) == [2.5]


def test_case_keeps_a_binary_mask_and_binarizes_any_other():
    image = sitk.GetImageFromArray(np.ones((3, 4, 5), np.int16))
    binary = sitk.GetImageFromArray(np.eye(4, 5, dtype=np.uint8)[None].repeat(3, 0))
    binary.CopyInformation(image)
    assert Case({"t1": image}, brain_mask=binary).brain_mask is binary
    weighted = sitk.GetImageFromArray(np.full((3, 4, 5), 7, np.int16))
    weighted.CopyInformation(image)
    mask = Case({"t1": image}, brain_mask=weighted).brain_mask
    assert mask.GetPixelID() == sitk.sitkUInt8 and np.all(sitk.GetArrayViewFromImage(mask) == 1)
    with pytest.raises(CaseError, match=r"label values \[9\]"):
        Case({"t1": image}, label=sitk.Cast(weighted + 2, sitk.sitkUInt8))
