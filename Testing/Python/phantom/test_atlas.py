"""Tissue maps with spatial priors: the template registered to the case carries its maps along."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from SynthPathologyLib.phantom.atlas import estimate_tissue_maps_with_priors


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def _moved(image: sitk.Image, shift_mm) -> sitk.Image:
    moved = sitk.Image(image)
    moved.SetOrigin(tuple(np.add(image.GetOrigin(), shift_mm)))
    return moved


def test_white_matter_is_found_on_a_moved_brain(tumor_phantom):
    """A brain 15 mm and a bit away from the template's place: registration finds it, and the
    white matter estimated with the carried priors matches the phantom's own."""
    shift = (15.0, -12.0, 8.0)
    t1 = _moved(tumor_phantom.case.images["t1"], shift)
    mask = _moved(tumor_phantom.case.mask(), shift)
    probabilities = estimate_tissue_maps_with_priors(t1, mask)
    estimated = sitk.GetArrayViewFromImage(probabilities.wm) > 0.5
    truth = sitk.GetArrayViewFromImage(tumor_phantom.tissues.wm) > 0.5
    assert _dice(estimated, truth) > 0.7
    total = sum(sitk.GetArrayViewFromImage(getattr(probabilities, k)) for k in ("csf", "gm", "wm"))
    inside = sitk.GetArrayViewFromImage(mask) > 0
    assert np.allclose(total[inside], 1.0, atol=1e-4) and not total[~inside].any()
