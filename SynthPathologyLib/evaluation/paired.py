"""Paired fidelity: a synthetic case against its real counterpart, inside the lesion.

A synthetic case is paired with a real case when it was painted into that case
(``provenance.source_case``) from that case's own label: the real image is then the ground truth
of what the generator should have painted. Intensities are normalized per contrast by the real
case's 99.5th brain percentile (:func:`~SynthPathologyLib.networks.conditioning.intensity_scale`), so the
figures are comparable across scanners; 1.0 is bright healthy tissue.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import MAEMetric, PSNRMetric, SSIMMetric

from ..core.voxel_box import bounding_box

# Normalized intensities of healthy tissue lie in about [0, 1]; lesions can exceed 1 (T2, FLAIR).
DATA_RANGE = 1.0
SSIM_WINDOW = 7


def paired_metrics(real: np.ndarray, synthetic: np.ndarray, label: np.ndarray, contrasts: list[str],
                   label_names: dict[int, str]) -> dict[str, float]:
    """PSNR (dB), MAE and SSIM of ``synthetic`` against ``real`` inside the lesion.

    Args:
        real, synthetic: (C, z, y, x) normalized intensities on one grid.
        label: (z, y, x) conditioning label; the lesion is its non-zero voxels.
        contrasts: the C contrast names.
        label_names: label value -> name (e.g. 1 -> "NCR").

    Returns:
        ``{metric}_{contrast}`` and ``{metric}_all`` for PSNR and MAE over the lesion's voxels and
        for SSIM (MONAI, Gaussian window of 7 voxels, data range 1) over the lesion's bounding box;
        ``mae_{label name}_all`` per label present. Empty dict for a case without lesion.
    """
    lesion = label > 0
    if not lesion.any():
        return {}
    metrics: dict[str, float] = {}
    columns = {"all": slice(None), **{c: slice(i, i + 1) for i, c in enumerate(contrasts)}}
    for name, channels in columns.items():
        real_c, synth_c = real[channels], synthetic[channels]
        inside_real = torch.from_numpy(real_c[:, lesion].astype(np.float32))[None]
        inside_synth = torch.from_numpy(synth_c[:, lesion].astype(np.float32))[None]
        metrics[f"psnr_{name}"] = float(PSNRMetric(max_val=DATA_RANGE)(inside_synth, inside_real))
        metrics[f"mae_{name}"] = float(MAEMetric()(inside_synth, inside_real))
        metrics[f"ssim_{name}"] = lesion_ssim(real_c, synth_c, lesion)
    for value, label_name in label_names.items():
        voxels = label == value
        if voxels.any():
            metrics[f"mae_{label_name}_all"] = float(np.abs(synthetic[:, voxels] - real[:, voxels]).mean())
    return metrics


def lesion_ssim(real: np.ndarray, synthetic: np.ndarray, lesion: np.ndarray) -> float:
    """Mean SSIM (MONAI) over the lesion's bounding box, grown to at least one window per side;
    (C, z, y, x) inputs, averaged over channels."""
    half = SSIM_WINDOW // 2
    box = bounding_box(lesion, pad_voxels=half)
    box = tuple(_at_least(s, SSIM_WINDOW, n) for s, n in zip(box, lesion.shape))
    window = min(SSIM_WINDOW, *(s.stop - s.start for s in box)) // 2 * 2 + 1
    crop = (slice(None), *box)
    real_t = torch.from_numpy(np.ascontiguousarray(real[crop], np.float32))[None]
    synth_t = torch.from_numpy(np.ascontiguousarray(synthetic[crop], np.float32))[None]
    ssim = SSIMMetric(spatial_dims=3, data_range=DATA_RANGE, win_size=window)
    return float(ssim(synth_t, real_t).mean())


def _at_least(span: slice, size: int, length: int) -> slice:
    """Grow ``span`` symmetrically to ``size`` voxels where the axis (``length``) allows."""
    missing = size - (span.stop - span.start)
    if missing <= 0:
        return span
    start = max(0, span.start - missing // 2)
    stop = min(length, start + size)
    return slice(max(0, stop - size), stop)
