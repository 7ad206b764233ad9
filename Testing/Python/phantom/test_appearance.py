"""Domain-randomized phantoms: with ``appearance_spread`` each case draws its own tissue appearance
(the phantom as a teacher of how to read contrasts, not of fixed intensities); without it cases stay
as they were."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from SynthPathologyLib.phantom.generator import PhantomOptions, make_phantom_case
from SynthPathologyLib.phantom.mr_signal import CLASS_PARAMETERS, draw_appearance


def gm_wm_ratios(phantom) -> dict[str, float]:
    """Per contrast: median intensity in grey matter over that in white matter."""
    gm = sitk.GetArrayFromImage(phantom.tissues.gm) > 0.9
    wm = sitk.GetArrayFromImage(phantom.tissues.wm) > 0.9
    return {c: float(np.median(a[gm]) / np.median(a[wm]))
            for c, a in ((c, sitk.GetArrayFromImage(i)) for c, i in phantom.case.images.items())}


def test_zero_spread_gives_the_literature_appearance_without_drawing():
    rng = np.random.default_rng(0)
    fixed = draw_appearance(rng, 0.0, bias_field=0.1, noise_percent=2.0)
    assert fixed.parameters == CLASS_PARAMETERS
    assert (fixed.bias_field, fixed.noise_percent, fixed.blur_voxels) == (0.1, 2.0, 0)
    assert rng.random() == np.random.default_rng(0).random()  # nothing drawn
    drawn = draw_appearance(rng, 0.2, bias_field=0.1, noise_percent=2.0)
    assert drawn.parameters.keys() == CLASS_PARAMETERS.keys() and drawn.parameters != CLASS_PARAMETERS
    assert 0 <= drawn.bias_field <= 0.2 and 1.0 <= drawn.noise_percent <= 4.0 and 0 <= drawn.blur_voxels <= 1


def test_randomized_cases_differ_in_tissue_contrast_and_repeat_per_seed(healthy_phantom):
    options = PhantomOptions(resolution_mm=2.0, healthy=True, appearance_spread=0.2)
    first, again, other = (make_phantom_case(seed, options) for seed in (7, 7, 8))
    for contrast in first.case.images:
        np.testing.assert_array_equal(sitk.GetArrayFromImage(first.case.images[contrast]),
                                      sitk.GetArrayFromImage(again.case.images[contrast]))
    fixed = gm_wm_ratios(healthy_phantom)  # seed 7 without randomization
    changes = [abs(gm_wm_ratios(case)[c] / fixed[c] - 1) for case in (first, other) for c in fixed]
    assert max(changes) > 0.05
    assert gm_wm_ratios(first) != gm_wm_ratios(other)
