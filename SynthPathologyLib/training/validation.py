"""Inpainting quality on held-out cases, compared with the real image in the repainted region.

A held-out case with a lesion has its own lesion repainted from its label (metrics ``mae_region``,
``mae_<label>``, ``psnr``, ``ssim``); a healthy one (empty or missing label) has a fixed mask of
healthy tissue inpainted (:func:`healthy_validation_mask`; the same metrics prefixed ``healthy_``).
Held-out cases are read before training (:func:`read_held_out_cases`), so a case that cannot be
validated stops the run before its first step rather than at its first validation.

Metrics per case, in normalized intensity units (see :mod:`SynthPathologyLib.networks.conditioning`):
MAE inside the synthesis region and inside each label, and PSNR and SSIM (MONAI) on the crop
around the region. The local-mean baseline fills the region with the mean of the ring of brain
voxels just outside it, per contrast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from monai.metrics import PSNRMetric, SSIMMetric
from monai.visualize.utils import blend_images
from scipy import ndimage

from ..core.case import Case
from ..core.errors import CaseError, SynthPathologyError
from ..core.image_io import copy_geometry
from ..core.voxel_box import bounding_box, centered_box
from ..io.brats import read_brats_case
from ..networks.conditioning import intensity_scale
from ..synthesis.region import synthesis_region
from ..synthesis.synthesizer import SynthesisResult, Synthesizer
from .data import random_blobs

GRID_HALF_WIDTH_VOXELS = 40
# Prefix of the metrics of healthy held-out cases (healthy inpainting), beside the lesion metrics.
HEALTHY_PREFIX = "healthy_"
# Seed of the healthy validation masks: one fixed mask per case, so validations compare over steps and runs.
HEALTHY_MASK_SEED = 0


@dataclass
class HeldOutCase:
    """A held-out case ready for validation.

    Attributes:
        case: the case as read (its label may be None or empty).
        healthy_mask: None when the case has a lesion (validation repaints it); else the region
            healthy inpainting fills (uint8 on the case's grid, :func:`healthy_validation_mask`).
    """

    case: Case
    healthy_mask: sitk.Image | None = None


def inpainting_metrics(original: Case, synthetic: dict[str, np.ndarray], region: np.ndarray,
                       contrasts: list[str], label_names: dict[int, str]) -> dict[str, float]:
    """Compare ``synthetic`` arrays (contrast -> (z, y, x)) with ``original`` inside ``region``;
    ``label_names`` (label value -> name) gives the per-label MAE (empty for a case without label)."""
    brain = sitk.GetArrayFromImage(original.mask()) > 0
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
        voxels = torch.from_numpy(sitk.GetArrayViewFromImage(original.label)[box] == value)
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


def evaluate_cases(synthesizer: Synthesizer,
                   cases: Sequence[HeldOutCase]) -> tuple[dict[str, float], list[SynthesisResult]]:
    """Repaint each case's own lesion, or inpaint a healthy case's mask (random seed 0); returns the
    mean over ``cases`` of each :func:`inpainting_metrics` figure (healthy cases' prefixed
    :data:`HEALTHY_PREFIX`, each averaged over the cases that have it) and the results."""
    contrasts = list(synthesizer.card.contrasts)
    names = {info.value: info.abbreviation for info in synthesizer.pathology.labels}
    rows, results = [], []
    for held in cases:
        healthy = held.healthy_mask is not None
        result = (synthesizer.inpaint(held.case, held.healthy_mask, random_seed=0) if healthy
                  else synthesizer.synthesize(held.case, held.case.label, random_seed=0))
        region = sitk.GetArrayViewFromImage(result.region) > 0
        arrays = {c: sitk.GetArrayViewFromImage(result.case.images[c]) for c in contrasts}
        metrics = inpainting_metrics(held.case, arrays, region, contrasts, {} if healthy else names)
        rows.append({(HEALTHY_PREFIX if healthy else "") + key: value for key, value in metrics.items()})
        results.append(result)
    keys = dict.fromkeys(key for row in rows for key in row)
    return {key: float(np.mean([row[key] for row in rows if key in row])) for key in keys}, results


def read_held_out_cases(folders: Sequence[Path], contrasts: Sequence[str], patch_size: tuple[int, int, int],
                        radius_mm: tuple[float, float]) -> list[HeldOutCase]:
    """Read the held-out case ``folders`` (each must hold ``contrasts``), drawing a healthy case's
    mask (:func:`healthy_validation_mask` with the training's ``patch_size``, voxels, and
    ``radius_mm``); before training, so that a case validation cannot use stops the run at once.

    Raises:
        SynthPathologyError: one line naming the first held-out case that cannot be validated.
    """
    held_out = []
    for folder in folders:
        try:
            case = read_brats_case(folder, contrasts=tuple(contrasts))
            held_out.append(HeldOutCase(case, _healthy_mask_image(case, patch_size, radius_mm)))
        except SynthPathologyError as exc:
            raise SynthPathologyError(
                f"held-out case {Path(folder).name} cannot be validated: {exc}; the last {len(folders)} case(s) of "
                "--data are held out (validation_cases): fix it, leave it out (exclude_cases) or change "
                "validation_cases") from None
    return held_out


def _healthy_mask_image(case: Case, patch_size: tuple[int, int, int],
                        radius_mm: tuple[float, float]) -> sitk.Image | None:
    """None for a case with a lesion, else its :func:`healthy_validation_mask` as uint8 on its grid."""
    if case.label is not None and sitk.GetArrayViewFromImage(case.label).any():
        return None
    return copy_geometry(healthy_validation_mask(case, patch_size, radius_mm).astype(np.uint8), case.reference)


def healthy_validation_mask(case: Case, patch_size: tuple[int, int, int], radius_mm: tuple[float, float],
                            seed: int = HEALTHY_MASK_SEED) -> np.ndarray:
    """Bool (z, y, x) on ``case``'s grid: a region of healthy tissue to inpaint, drawn as training
    draws its healthy regions (:func:`~.data.random_blobs`: 1-3 ellipsoids, radii in ``radius_mm``,
    mm, inside the brain) in a ``patch_size`` box (voxels) centred on a brain voxel at least the
    largest radius deep, all from a generator seeded by ``seed``: the same mask at every call.

    Raises:
        CaseError: the case has no brain voxels, or the mask misses the brain.
    """
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    if not brain.any():
        raise CaseError(f"case {case.case_id}: no brain voxels (every contrast is 0)")
    spacing_xyz = case.reference.GetSpacing()
    depth_mm = ndimage.distance_transform_edt(brain, sampling=spacing_xyz[::-1])
    # Deep enough that the blobs lie in tissue rather than cut by the brain's edge, where the brain allows.
    deep = np.flatnonzero(depth_mm >= min(radius_mm[1], depth_mm.max()))
    rng = np.random.default_rng(seed)
    center = np.unravel_index(deep[rng.integers(len(deep))], brain.shape)
    box = centered_box(np.asarray(center), patch_size, brain.shape)
    mask = np.zeros(brain.shape, bool)
    mask[box] = random_blobs(rng, brain[box], spacing_xyz, radius_mm)
    if not mask.any():
        raise CaseError(f"case {case.case_id}: no healthy brain tissue for a validation mask")
    return mask


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
