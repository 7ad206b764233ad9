"""A case's own lesions: the room a new lesion may use keeps a gap from them; the union keeps them."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.core.errors import LesionPlacementError
from SynthPathologyLib.core.image_io import copy_geometry
from SynthPathologyLib.lesions.existing import check_seed_clear, lesion_free_brain, union_labels


@pytest.fixture
def brain_and_label():
    brain = np.zeros((30, 40, 50), np.uint8)
    brain[2:-2, 2:-2, 2:-2] = 1
    label = np.zeros_like(brain)
    label[10:16, 15:22, 10:18] = 2
    label[12:14, 17:20, 12:16] = 3
    reference = sitk.Image(50, 40, 30, sitk.sitkUInt8)
    reference.SetSpacing((1.0, 1.5, 2.0))
    return copy_geometry(brain, reference), copy_geometry(label, reference)


@pytest.mark.parametrize("gap_mm", [0.0, 5.0, 9.0])
def test_room_keeps_the_gap_from_existing_lesions(brain_and_label, gap_mm):
    brain, label = brain_and_label
    room = sitk.GetArrayFromImage(lesion_free_brain(brain, label, gap_mm)) > 0
    lesion = sitk.GetArrayViewFromImage(label) > 0
    distance = ndimage.distance_transform_edt(~lesion, sampling=(2.0, 1.5, 1.0))
    inside = sitk.GetArrayViewFromImage(brain) > 0
    assert np.array_equal(room, inside & (distance > gap_mm))


def test_union_keeps_every_existing_voxel_and_adds_the_new_lesion(brain_and_label):
    brain, label = brain_and_label
    new = np.zeros(sitk.GetArrayViewFromImage(label).shape, np.uint8)
    new[12:20, 25:30, 30:40] = 1
    new[13, 18, 13] = 1  # a voxel of the existing lesion: the existing value wins
    merged = sitk.GetArrayFromImage(union_labels(label, copy_geometry(new, label)))
    old = sitk.GetArrayViewFromImage(label)
    assert np.array_equal(merged[old > 0], old[old > 0])
    assert np.array_equal(merged[old == 0], new[old == 0])


def test_a_seed_near_an_existing_lesion_is_refused(brain_and_label):
    brain, label = brain_and_label
    room = lesion_free_brain(brain, label, 5.0)
    near = label.TransformIndexToPhysicalPoint((20, 18, 9))  # 2 mm below the lesion
    with pytest.raises(LesionPlacementError, match="within 5 mm of the case's existing lesion"):
        check_seed_clear(near, room, 5.0)
    check_seed_clear(label.TransformIndexToPhysicalPoint((40, 30, 25)), room, 5.0)
