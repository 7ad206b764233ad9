"""Segmentation overlap per tumor region: Dice and the 95th-percentile Hausdorff distance (MONAI).

Regions are unions of label values; for glioma (internal labels 1 NCR, 2 ED, 3 ET) the BraTS
regions: whole tumor WT = {1, 2, 3}, tumor core TC = {1, 3}, enhancing tumor ET = {3}.
Label arrays are (z, y, x) in SimpleITK voxel order; spacing is (x, y, z) in mm.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric

from ..pathologies import get_pathology


def evaluation_regions(pathology: str = "glioma") -> dict[str, tuple[int, ...]]:
    """Region name -> label values: WT (every label), TC (the core labels), ET (enhancing)."""
    info = get_pathology(pathology)
    regions = {"WT": info.label_values, "TC": info.core_values}
    if any(label.region == "enhancing" for label in info.labels):
        regions["ET"] = (info.value_of("enhancing"),)
    return regions


def region_masks(label: np.ndarray, regions: dict[str, tuple[int, ...]]) -> np.ndarray:
    """(R, z, y, x) bool: one mask per region, in ``regions``' order."""
    return np.stack([np.isin(label, values) for values in regions.values()])


def overlap_scores(prediction: np.ndarray, truth: np.ndarray, spacing_xyz,
                   regions: dict[str, tuple[int, ...]]) -> dict[str, dict[str, float]]:
    """Dice and HD95 (mm) of ``prediction`` against ``truth`` (label maps, (z, y, x)), per region.

    Conventions for empty masks (BraTS): both empty gives Dice 1 and HD95 0; only one empty gives
    Dice 0 and HD95 = the volume's diagonal in mm (the worst possible distance).
    """
    pred = torch.from_numpy(region_masks(prediction, regions))[None].float()
    true = torch.from_numpy(region_masks(truth, regions))[None].float()
    dice = DiceMetric(include_background=True, reduction="none", ignore_empty=False)(pred, true)[0]
    spacing_zyx = [float(s) for s in reversed(tuple(spacing_xyz))]
    with warnings.catch_warnings():  # empty masks warn; they are handled below
        warnings.simplefilter("ignore")
        hd95 = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")(
            pred, true, spacing=spacing_zyx)[0]
    diagonal = float(np.linalg.norm(np.asarray(prediction.shape) * spacing_zyx))
    scores = {}
    for index, name in enumerate(regions):
        has_pred, has_true = bool(pred[0, index].any()), bool(true[0, index].any())
        if not has_pred and not has_true:
            distance = 0.0
        elif not has_pred or not has_true:
            distance = diagonal
        else:
            distance = float(hd95[index])
        scores[name] = {"dice": float(dice[index]), "hd95_mm": distance}
    return scores
