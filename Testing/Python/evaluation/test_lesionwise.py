"""Lesion-wise Dice and HD95 (BraTS 2023 definition) against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from SynthPathologyLib.evaluation.lesionwise import WORST_HD95_MM, lesion_wise_region, lesion_wise_scores
from SynthPathologyLib.evaluation.overlap import overlap_scores

SHAPE = (40, 40, 60)
ONE_MM = (1.0, 1.0, 1.0)


def cube(mask: np.ndarray, corner: tuple[int, int, int], side: int) -> np.ndarray:
    z, y, x = corner
    mask[z:z + side, y:y + side, x:x + side] = True
    return mask


def test_a_found_a_missed_lesion_and_a_false_positive_share_the_score():
    truth = cube(cube(np.zeros(SHAPE, bool), (5, 5, 5), 6), (5, 5, 40), 6)
    prediction = cube(cube(np.zeros(SHAPE, bool), (5, 5, 5), 6), (30, 30, 25), 5)  # exact, missed, false positive
    scores = lesion_wise_region(prediction, truth, ONE_MM)
    assert scores["lesion_dice"] == pytest.approx((1.0 + 0.0) / 3)
    assert scores["lesion_hd95_mm"] == pytest.approx((0.0 + 2 * WORST_HD95_MM) / 3)
    assert (scores["lesions_tp"], scores["lesions_fn"], scores["lesions_fp"]) == (1, 1, 1)


def test_with_one_lesion_the_score_is_the_voxel_wise_one():
    truth = cube(np.zeros(SHAPE, bool), (10, 10, 10), 10)
    prediction = cube(np.zeros(SHAPE, bool), (10, 10, 12), 10)  # shifted 2 voxels: overlap 8x10x10
    spacing = (1.0, 1.0, 2.0)
    scores = lesion_wise_region(prediction, truth, spacing)
    voxel_wise = overlap_scores(prediction.astype(np.uint8), truth.astype(np.uint8), spacing, {"WT": (1,)})["WT"]
    assert scores["lesion_dice"] == pytest.approx(2 * 800 / 2000) == pytest.approx(voxel_wise["dice"])
    assert scores["lesion_hd95_mm"] == pytest.approx(voxel_wise["hd95_mm"]) and scores["lesion_hd95_mm"] > 0


def test_nearby_pieces_merge_and_small_lesions_are_left_out():
    truth = cube(cube(np.zeros(SHAPE, bool), (5, 5, 5), 6), (5, 5, 13), 6)  # 2 voxels apart: one lesion
    truth = cube(truth, (30, 30, 40), 3)  # 27 mm³ <= 50 mm³: not scored
    prediction = cube(np.zeros(SHAPE, bool), (5, 5, 5), 6)
    prediction = cube(prediction, (30, 30, 40), 3)  # finds the small lesion: neither scored nor a false positive
    scores = lesion_wise_region(prediction, truth, ONE_MM)
    assert scores["lesion_dice"] == pytest.approx(2 * 216 / (216 + 432))
    assert (scores["lesions_tp"], scores["lesions_fn"], scores["lesions_fp"]) == (1, 0, 0)


def test_empty_regions_follow_the_challenge_conventions():
    empty = np.zeros(SHAPE, np.uint8)
    label = empty.copy()
    label[10:20, 10:20, 10:20] = 2
    scores = lesion_wise_scores(label, label, ONE_MM, {"WT": (1, 2, 3), "ET": (3,)})
    assert scores["ET"]["lesion_dice"] == 1.0 and scores["ET"]["lesion_hd95_mm"] == 0.0
    assert scores["WT"]["lesion_dice"] == 1.0 and scores["WT"]["lesion_hd95_mm"] == 0.0
    only_predicted = lesion_wise_scores(label, empty, ONE_MM, {"WT": (1, 2, 3)})["WT"]
    assert only_predicted["lesion_dice"] == 0.0 and only_predicted["lesion_hd95_mm"] == WORST_HD95_MM
