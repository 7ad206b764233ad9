"""Brain tissue classes: cerebrospinal fluid (CSF), grey matter (GM) and white matter (WM).

:class:`TissueMaps` holds one probability map per class; :func:`estimate_tissue_maps` derives
them from any skull-stripped T1 and its brain mask with a three-class Gaussian mixture on the
T1 intensities (T1 order: CSF < GM < WM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..core.errors import SynthPathologyError
from ..core.image_io import copy_geometry, require_same_grid

TISSUE_CLASSES = ("csf", "gm", "wm")

# The mixture is fitted on a histogram of the brain's T1 intensities: exact enough for three
# broad classes, and independent of the number of voxels.
HISTOGRAM_BINS = 512
EM_ITERATIONS = 100
EM_TOLERANCE = 1e-7


@dataclass
class TissueMaps:
    """Tissue probabilities of one brain, all on one grid.

    Attributes:
        csf, gm, wm: float32 probabilities in [0, 1]; inside ``brain_mask`` they sum to 1, outside
            they are 0. Their partial values at tissue borders act as partial-volume fractions.
        brain_mask: uint8, 1 inside the brain.
    """

    csf: sitk.Image
    gm: sitk.Image
    wm: sitk.Image
    brain_mask: sitk.Image

    def arrays(self) -> dict[str, np.ndarray]:
        """Class name ("csf", "gm", "wm") -> probability array (z, y, x), read-only views."""
        return {name: sitk.GetArrayViewFromImage(getattr(self, name)) for name in TISSUE_CLASSES}

    def labels(self) -> np.ndarray:
        """Most probable class per voxel, uint8 (z, y, x): 0 outside the brain, 1 CSF, 2 GM, 3 WM."""
        stacked = np.stack(list(self.arrays().values()))
        return np.where(sitk.GetArrayViewFromImage(self.brain_mask) != 0, stacked.argmax(0) + 1, 0).astype(np.uint8)


def tissue_maps_from_arrays(
    gm: np.ndarray, wm: np.ndarray, brain_mask: np.ndarray, reference: sitk.Image
) -> TissueMaps:
    """Tissue maps from GM and WM probabilities (z, y, x) on ``reference``'s grid.

    Probabilities are clipped to [0, 1] and zeroed outside ``brain_mask``; where GM + WM exceeds 1
    both are scaled down; CSF is the rest of the brain, 1 - GM - WM.
    """
    inside = np.asarray(brain_mask) != 0
    gm = np.where(inside, np.clip(gm, 0.0, 1.0), 0.0).astype(np.float32)
    wm = np.where(inside, np.clip(wm, 0.0, 1.0), 0.0).astype(np.float32)
    scale = np.maximum(gm + wm, 1.0)
    gm /= scale
    wm /= scale
    csf = np.where(inside, np.clip(1.0 - gm - wm, 0.0, 1.0), 0.0).astype(np.float32)
    return TissueMaps(
        csf=copy_geometry(csf, reference),
        gm=copy_geometry(gm, reference),
        wm=copy_geometry(wm, reference),
        brain_mask=copy_geometry(inside.astype(np.uint8), reference),
    )


def estimate_tissue_maps(t1: sitk.Image, brain_mask: sitk.Image) -> TissueMaps:
    """CSF, GM and WM probabilities of a skull-stripped T1, on its grid.

    A three-class Gaussian mixture is fitted by expectation-maximisation to the T1 intensities
    inside ``brain_mask`` (initialised from two Otsu thresholds); each voxel's class posteriors
    are its tissue probabilities, ordered by mean intensity CSF < GM < WM. The T1 should be
    bias-field corrected: the model has no spatial term.

    Raises:
        GridMismatchError: ``brain_mask`` is not on ``t1``'s grid.
        SynthPathologyError: the mask is empty or the T1 is constant inside it.
    """
    require_same_grid(brain_mask, t1, "brain mask", "the T1")
    inside = sitk.GetArrayViewFromImage(brain_mask) != 0
    values = sitk.GetArrayViewFromImage(t1)[inside].astype(np.float64)
    if values.size == 0 or np.ptp(values) == 0:
        raise SynthPathologyError("cannot estimate tissue classes: the T1 is empty or constant inside the brain mask")
    means, sigmas, weights = fit_gaussian_mixture(values)
    posteriors = _posteriors(values, means, sigmas, weights)
    full = np.zeros((3, *inside.shape), np.float32)
    full[:, inside] = posteriors
    return tissue_maps_from_arrays(full[1], full[2], inside, t1)


def fit_gaussian_mixture(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three-class 1-D Gaussian mixture of ``values`` (n,): (means, standard deviations, weights),
    each shape (3,), sorted by mean.

    EM runs on a histogram of ``values``; it starts from the classes split by two Otsu thresholds.
    """
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    centers = 0.5 * (edges[:-1] + edges[1:])
    means, sigmas, weights = _otsu_start(values, counts, centers)
    # The standard deviation never drops below one bin: a class cannot collapse onto one bin.
    floor = edges[1] - edges[0]
    previous = -np.inf
    for _ in range(EM_ITERATIONS):
        joint = weights[:, None] * _gaussian(centers, means, sigmas)  # (3, bins)
        total = np.maximum(joint.sum(0), np.finfo(float).tiny)
        likelihood = float(counts @ np.log(total))
        responsibility = joint / total * counts  # expected voxel counts per class and bin
        mass = np.maximum(responsibility.sum(1), np.finfo(float).tiny)
        means = responsibility @ centers / mass
        sigmas = np.maximum(np.sqrt(np.sum(responsibility * (centers - means[:, None]) ** 2, 1) / mass), floor)
        weights = mass / mass.sum()
        if likelihood - previous < EM_TOLERANCE * abs(likelihood):
            break
        previous = likelihood
    order = np.argsort(means)
    return means[order], sigmas[order], weights[order]


def _otsu_start(values: np.ndarray, counts: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means, standard deviations and weights of the three classes split by two Otsu thresholds."""
    otsu = sitk.OtsuMultipleThresholdsImageFilter()
    otsu.SetNumberOfThresholds(2)
    otsu.SetNumberOfHistogramBins(len(counts))
    otsu.Execute(sitk.GetImageFromArray(values.reshape(1, 1, -1)))
    classes = np.digitize(centers, otsu.GetThresholds())
    means, sigmas, weights = np.zeros(3), np.zeros(3), np.zeros(3)
    spread = np.ptp(values)
    for k in range(3):
        c, w = centers[classes == k], counts[classes == k]
        weights[k] = max(w.sum(), 1)
        means[k] = c @ w / w.sum() if w.sum() else values.min() + spread * (k + 0.5) / 3
        sigmas[k] = np.sqrt(((c - means[k]) ** 2) @ w / w.sum()) if w.sum() else spread / 6
    sigmas = np.maximum(sigmas, spread / len(counts))
    return means, sigmas, weights / weights.sum()


def _gaussian(x: np.ndarray, means: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Gaussian densities of ``x`` (n,) under each class, shape (3, n)."""
    z = (x[None, :] - means[:, None]) / sigmas[:, None]
    return np.exp(-0.5 * z**2) / (np.sqrt(2 * np.pi) * sigmas[:, None])


def _posteriors(values: np.ndarray, means: np.ndarray, sigmas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Class posteriors of ``values`` (n,), float32 (3, n).

    Beyond the outermost class means the posterior is held at its value there: a T1 brighter than
    the WM mean is WM, darker than the CSF mean is CSF, whatever the fitted widths say.
    """
    clipped = np.clip(values, means[0], means[-1])
    joint = weights[:, None] * _gaussian(clipped, means, sigmas)
    return (joint / np.maximum(joint.sum(0), np.finfo(float).tiny)).astype(np.float32)
