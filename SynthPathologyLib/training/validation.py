"""Inpainting quality on held-out cases: the generator repaints each case's own lesion region
from its label, and is compared with the real image there.

Metrics per case, in normalized intensity units (see :mod:`SynthPathologyLib.networks.conditioning`):
MAE inside the synthesis region and inside each label, and PSNR and SSIM (MONAI) on the crop
around the region. The local-mean baseline fills the region with the mean of the ring of brain
voxels just outside it, per contrast.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch
from monai.metrics import PSNRMetric, SSIMMetric
from monai.visualize.utils import blend_images

from ..core.case import Case
from ..core.voxel_box import bounding_box
from ..networks.conditioning import intensity_scale
from ..synthesis.region import synthesis_region
from ..synthesis.synthesizer import SynthesisResult, Synthesizer

GRID_HALF_WIDTH_VOXELS = 40


def inpainting_metrics(original: Case, synthetic: dict[str, np.ndarray], region: np.ndarray,
                       contrasts: list[str], label_names: dict[int, str]) -> dict[str, float]:
    """Compare ``synthetic`` arrays (contrast -> (z, y, x)) with ``original`` inside ``region``."""
    brain = sitk.GetArrayFromImage(original.mask()) > 0
    label = sitk.GetArrayViewFromImage(original.label)
    box = bounding_box(region, pad_voxels=4)
    real, fake = [], []
    for contrast in contrasts:
        truth = sitk.GetArrayViewFromImage(original.images[contrast]).astype(np.float32)
        scale = intensity_scale(truth, brain)
        real.append(truth[box] / scale)
        fake.append(synthetic[contrast][box].astype(np.float32) / scale)
    real_t = torch.from_numpy(np.stack(real))[None]
    fake_t = torch.from_numpy(np.stack(fake))[None]
    error = (fake_t - real_t).abs()[0]
    inside = torch.from_numpy(region[box])
    metrics = {"mae_region": float(error[:, inside].mean())}
    for value, name in label_names.items():
        voxels = torch.from_numpy(label[box] == value)
        if voxels.any():
            metrics[f"mae_{name}"] = float(error[:, voxels].mean())
    data_range = float(max(real_t.max(), 1.0))
    metrics["psnr"] = float(PSNRMetric(max_val=data_range)(fake_t, real_t).mean())
    window = min(7, *(s.stop - s.start for s in box)) // 2 * 2 + 1
    ssim = SSIMMetric(spatial_dims=3, data_range=data_range, win_size=window)
    metrics["ssim"] = float(ssim(fake_t, real_t).mean())
    return metrics


def local_mean_fill(case: Case, region: np.ndarray, contrasts: list[str]) -> dict[str, np.ndarray]:
    """Baseline: each contrast's region filled with the mean of the brain ring around it."""
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    ring_image = sitk.BinaryDilate(sitk.GetImageFromArray(region.astype(np.uint8)), [3, 3, 3])
    ring = (sitk.GetArrayViewFromImage(ring_image) > 0) & ~region & brain
    filled = {}
    for contrast in contrasts:
        array = sitk.GetArrayFromImage(case.images[contrast])
        array[region] = np.mean(array[ring]) if ring.any() else 0
        filled[contrast] = array
    return filled


def evaluate_cases(synthesizer: Synthesizer, cases: list[Case]) -> tuple[dict[str, float], list[SynthesisResult]]:
    """Repaint each case's own lesion (random seed 0); returns the mean of
    :func:`inpainting_metrics` over ``cases`` (each needs a lesion label) and the results."""
    contrasts = list(synthesizer.card.contrasts)
    names = {info.value: info.abbreviation for info in synthesizer.pathology.labels}
    rows, results = [], []
    for case in cases:
        result = synthesizer.synthesize(case, case.label, random_seed=0)
        region = sitk.GetArrayViewFromImage(result.region) > 0
        arrays = {c: sitk.GetArrayViewFromImage(result.case.images[c]) for c in contrasts}
        rows.append(inpainting_metrics(case, arrays, region, contrasts, names))
        results.append(result)
    means = {key: float(np.mean([row[key] for row in rows if key in row])) for key in rows[0]} if rows else {}
    return means, results


def validation_grid(original: Case, result: SynthesisResult, contrasts: list[str]) -> np.ndarray:
    """An image grid for TensorBoard: (3, H, W) float32 RGB in [0, 1].

    One row per contrast, columns: the real image, the synthetic one, and the synthetic one with
    the lesion label blended over it (MONAI's ``blend_images``); axial slices through the synthesis
    region's centre, cropped to 2 x :data:`GRID_HALF_WIDTH_VOXELS` voxels around it. Each row is
    scaled by its real image's brain intensities.
    """
    region = sitk.GetArrayViewFromImage(result.region) > 0
    label = sitk.GetArrayViewFromImage(result.label)
    center = [(s.start + s.stop) // 2 for s in bounding_box(region)]
    rows_cols = tuple(
        slice(max(0, c - GRID_HALF_WIDTH_VOXELS), c + GRID_HALF_WIDTH_VOXELS) for c in center[1:]
    )
    brain = sitk.GetArrayFromImage(original.mask()) > 0
    rows = []
    for contrast in contrasts:
        real = sitk.GetArrayViewFromImage(original.images[contrast])
        synthetic = sitk.GetArrayViewFromImage(result.case.images[contrast])
        scale = intensity_scale(real, brain)
        tiles = [np.clip(a[center[0]][rows_cols] / scale, 0.0, 1.0).astype(np.float32) for a in (real, synthetic)]
        overlay = blend_images(tiles[1][None], label[center[0]][rows_cols][None].astype(np.float32),
                               alpha=0.4, rescale_arrays=False)
        rows.append(np.concatenate([np.repeat(tiles[0][None], 3, 0), np.repeat(tiles[1][None], 3, 0),
                                    np.asarray(overlay, np.float32)], axis=2))
    return np.concatenate(rows, axis=1)


def baseline_region(case: Case, margin_mm: float) -> np.ndarray:
    """The synthesis region a model with ``margin_mm`` would repaint for the case's own lesion."""
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    return synthesis_region(sitk.GetArrayViewFromImage(case.label), brain, case.reference.GetSpacing(), margin_mm)
