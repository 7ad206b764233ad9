"""Tissue maps of a real brain with spatial priors: the template brain registered to it.

A three-class mixture on T1 intensities alone fails on real scans whose grey and white matter
overlap in intensity (on one of the real TCGA gliomas it found no voxel of white matter with a
probability over 0.6). Here the MNI152 template (:func:`~SynthPathologyLib.phantom.default_brain.load_default_brain`)
is registered to the case's T1 (affine, Mattes mutual information, SimpleITK), its CSF / GM / WM
maps are carried onto the case's grid and used as each voxel's prior in the mixture.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..core.errors import SynthPathologyError
from ..core.image_io import require_same_grid
from .default_brain import Brain, load_default_brain
from .tissue import TISSUE_CLASSES, TissueMaps, fit_gaussian_mixture, tissue_maps_from_arrays

# The registration runs on the 2 mm template, two levels (shrink 4 then 2 of the case's grid).
TEMPLATE_RESOLUTION_MM = 2.0
SHRINK_FACTORS = (4, 2)
SMOOTHING_MM = (4.0, 2.0)
SAMPLING_FRACTION = 0.05
ITERATIONS = 100
# Weight of a flat prior mixed into the template's: tumours, edema and registration error make
# the template wrong in places, and the intensities must be able to overrule it there.
FLAT_PRIOR = 0.2
# The carried maps are blurred this much (mm): an affine registration does not align the sulci.
PRIOR_BLUR_MM = 3.0


def register_template(t1: sitk.Image, brain_mask: sitk.Image, template: Brain | None = None) -> sitk.Transform:
    """Affine transform from the case's physical space (LPS mm) to the template's: the template
    registered to ``t1`` (inside ``brain_mask``), starting from aligned centres of mass.

    Raises:
        SynthPathologyError: the registration failed.
    """
    template = template or load_default_brain(TEMPLATE_RESOLUTION_MM)
    fixed = sitk.Mask(sitk.Cast(t1, sitk.sitkFloat32), sitk.Cast(brain_mask != 0, sitk.sitkUInt8))
    moving = sitk.Cast(template.t1, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3),
                                                sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING_FRACTION, seed=1)
    method.SetMetricFixedMask(sitk.Cast(brain_mask != 0, sitk.sitkUInt8))
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3, numberOfIterations=ITERATIONS,
                                                    relaxationFactor=0.6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel(list(SMOOTHING_MM))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    try:
        return method.Execute(fixed, moving)
    except RuntimeError as exc:
        raise SynthPathologyError(f"registering the template brain to the case failed ({exc})") from None


def template_priors(t1: sitk.Image, brain_mask: sitk.Image, template: Brain | None = None) -> TissueMaps:
    """The template's CSF / GM / WM probabilities carried onto ``t1``'s grid by
    :func:`register_template` (inside ``brain_mask``; they sum to 1 there)."""
    template = template or load_default_brain(TEMPLATE_RESOLUTION_MM)
    transform = register_template(t1, brain_mask, template)
    gm, wm = (sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.Resample(
        getattr(template.tissues, name), t1, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32), PRIOR_BLUR_MM))
        for name in ("gm", "wm"))
    return tissue_maps_from_arrays(gm, wm, sitk.GetArrayViewFromImage(brain_mask) != 0, t1)


def estimate_tissue_maps_with_priors(t1: sitk.Image, brain_mask: sitk.Image,
                                     template: Brain | None = None) -> TissueMaps:
    """CSF, GM and WM probabilities of a skull-stripped T1 (on its grid): the three classes'
    intensities from the mixture fitted to the brain's histogram (:func:`fit_gaussian_mixture`), and
    as each voxel's class weights the registered template's maps (:func:`template_priors`, blurred
    ``PRIOR_BLUR_MM``) mixed with ``FLAT_PRIOR`` of a flat prior: where the classes' intensities
    overlap, the template decides.

    Measured against the phantom's true maps (2 mm, two seeds; Dice of probability > 0.5): WM
    0.80 / 0.70 (intensities alone: 0.75 / 0.57), GM 0.82 / 0.72 (0.83 / 0.73), CSF 0.68 / 0.52
    (0.79 / 0.60). On the real glioma TCGA-FG-6692, whose GM and WM intensities overlap, the
    intensities alone find no white matter; this finds 311 ml.

    Raises:
        GridMismatchError: ``brain_mask`` is not on ``t1``'s grid.
        SynthPathologyError: the mask is empty, the T1 constant inside it, or the registration failed.
    """
    require_same_grid(brain_mask, t1, "brain mask", "the T1")
    inside = sitk.GetArrayViewFromImage(brain_mask) != 0
    values = sitk.GetArrayViewFromImage(t1)[inside].astype(np.float32)
    if values.size == 0 or np.ptp(values) == 0:
        raise SynthPathologyError("cannot estimate tissue classes: the T1 is empty or constant inside the brain mask")
    maps = template_priors(t1, brain_mask, template)  # named: the views below need its images alive
    priors = np.stack([maps.arrays()[name][inside] for name in TISSUE_CLASSES]) * (1 - FLAT_PRIOR) + FLAT_PRIOR / 3
    # Class intensities from the whole brain's histogram (fit_gaussian_mixture); where they overlap,
    # the prior decides.
    means, sigmas, _ = fit_gaussian_mixture(values.astype(np.float64))
    clipped = np.clip(values, means[0], means[-1])  # beyond the outermost means, the posterior held there
    z = (clipped[None] - means[:, None].astype(np.float32)) / sigmas[:, None].astype(np.float32)
    joint = priors * np.exp(-0.5 * z**2) / sigmas[:, None].astype(np.float32)
    weights = joint / np.maximum(joint.sum(0), 1e-30)
    full = np.zeros((3, *inside.shape), np.float32)
    full[:, inside] = weights
    return tissue_maps_from_arrays(full[1], full[2], inside, t1)
