"""Phantom cases of the other pathologies at 2 mm: brain metastases (BraTS-MET labels, one to three
ring- or solid-enhancing lesions in bright edema) and multiple sclerosis (small FLAIR-bright
plaques near the ventricles or in white matter, no mass effect); determinism, and the glioma
phantom unchanged by the new options."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.core.image_io import voxel_points_lps
from SynthPathologyLib.lesions.sampling import CSF_LEVEL, VENTRICLE_DEPTH_MM
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.phantom.generator import PhantomCase, PhantomOptions, make_phantom_case

CONTRASTS = ("t1", "t1c", "t2", "flair")
NETC, SNFH, ET = 1, 2, 3
MS_LESION = 1
METASTASIS_SEEDS = (0, 1, 2, 3)
MS_SEED = 1
MS_LESIONS = 6  # a fixed count keeps the MS case fast (the default draws 4 to 20)


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def options(**fields) -> PhantomOptions:
    return PhantomOptions(resolution_mm=2.0, **fields)


def normal_white_matter(phantom: PhantomCase) -> np.ndarray:
    """Nearly pure white matter outside the lesions (and away from their blurred borders)."""
    label = array(phantom.case.label)
    return (array(phantom.tissues.wm) > 0.8) & ~ndimage.binary_dilation(label > 0, iterations=2)


def mean(phantom: PhantomCase, contrast: str, where: np.ndarray) -> float:
    assert where.any()
    return float(array(phantom.case.images[contrast])[where].astype(np.float64).mean())


def assert_same_case(a: PhantomCase, b: PhantomCase) -> None:
    for contrast in CONTRASTS:
        assert array(a.case.images[contrast]).tobytes() == array(b.case.images[contrast]).tobytes()
    assert array(a.case.label).tobytes() == array(b.case.label).tobytes()
    assert array(a.case.brain_mask).tobytes() == array(b.case.brain_mask).tobytes()
    assert a.lesions == b.lesions


@pytest.fixture(scope="module")
def metastasis_cases() -> list[PhantomCase]:
    return [make_phantom_case(seed, options(pathology="metastasis")) for seed in METASTASIS_SEEDS]


@pytest.fixture(scope="module")
def ms_case() -> PhantomCase:
    return make_phantom_case(MS_SEED, options(pathology="ms", lesion_count=(MS_LESIONS, MS_LESIONS)))


def test_options_take_the_pathologys_lesion_count_and_sizes():
    for name in ("glioma", "metastasis", "ms"):
        pathology = get_pathology(name)
        assert options(pathology=name).lesion_count == pathology.lesions_per_case
    assert options(pathology="ms").tumor_diameter_mm == get_pathology("ms").diameter_range_mm
    assert options(pathology="ms", lesion_count=(2, 3)).lesion_count == (2, 3)


def test_metastasis_cases_hold_one_to_three_lesions_with_brats_met_labels(metastasis_cases):
    low, high = get_pathology("metastasis").lesions_per_case
    counts = [len(phantom.lesions) for phantom in metastasis_cases]
    assert all(low <= n <= high for n in counts)
    assert max(counts) > 1  # several lesions happen
    for phantom in metastasis_cases:
        label = array(phantom.case.label)
        assert set(np.unique(label)) <= {0, NETC, SNFH, ET}
        assert {SNFH, ET} <= set(np.unique(label))
        assert phantom.case.pathology == "metastasis"
        assert phantom.lesion == phantom.lesions[0]
        assert all(spec.pathology == "metastasis" for spec in phantom.lesions)
        assert np.all(array(phantom.case.brain_mask)[label > 0] == 1)


def test_the_lesion_count_option_is_obeyed():
    phantom = make_phantom_case(5, options(pathology="metastasis", lesion_count=(1, 1)))
    assert len(phantom.lesions) == 1


def test_every_metastasis_enhances_after_gadolinium(metastasis_cases):
    for phantom in metastasis_cases:
        wm = normal_white_matter(phantom)
        wm_ratio = mean(phantom, "t1c", wm) / mean(phantom, "t1", wm)
        label = array(phantom.case.label)
        enhancing = np.argwhere(label == ET)
        positions = voxel_points_lps(phantom.case.label, enhancing)
        for spec in phantom.lesions:
            near = np.linalg.norm(positions - spec.center_lps, axis=1) <= max(spec.diameters_mm) / 2 + 2.0
            assert near.any(), f"seed {phantom.seed}: no enhancing voxel at the lesion {spec.center_lps}"
            own = np.zeros(label.shape, bool)
            own[tuple(enhancing[near].T)] = True
            ratio = mean(phantom, "t1c", own) / mean(phantom, "t1", own)
            assert ratio > 1.2 * wm_ratio, f"seed {phantom.seed}: T1c/T1 {ratio:.2f} in ET, {wm_ratio:.2f} in WM"


def test_metastasis_edema_is_flair_and_t2_bright(metastasis_cases):
    for phantom in metastasis_cases:
        wm = normal_white_matter(phantom)
        edema = array(phantom.case.label) == SNFH
        for contrast in ("flair", "t2"):
            assert mean(phantom, contrast, edema) > 1.3 * mean(phantom, contrast, wm)


def test_metastases_push_tissue_but_ms_plaques_do_not(metastasis_cases, ms_case):
    for phantom, pathology in ((metastasis_cases[0], "metastasis"), (ms_case, "ms")):
        healthy = make_phantom_case(phantom.seed, options(pathology=pathology, healthy=True))
        assert not array(healthy.case.label).any()
        moved = np.abs(array(phantom.tissues.wm) - array(healthy.tissues.wm)).max()
        if get_pathology(pathology).space_occupying:
            assert moved > 0.1
        else:
            assert moved == 0


def test_ms_case_holds_small_flair_bright_plaques(ms_case):
    label = array(ms_case.case.label)
    assert set(np.unique(label)) <= {0, 1, 2}
    assert MS_LESION in label
    assert len(ms_case.lesions) == MS_LESIONS
    assert all(spec.pathology == "ms" for spec in ms_case.lesions)
    assert ms_case.case.pathology == "ms"
    wm = normal_white_matter(ms_case)
    plaques = label > 0
    for contrast in ("flair", "t2"):
        assert mean(ms_case, contrast, plaques) > 1.3 * mean(ms_case, contrast, wm)
    # Plaques stay small: a few may merge, but the typical one is under a 15 mm sphere.
    components, count = ndimage.label(plaques)
    assert count >= MS_LESIONS // 2
    voxel = float(np.prod(ms_case.case.label.GetSpacing()))
    volumes = ndimage.sum(plaques, components, range(1, count + 1)) * voxel
    assert np.median(volumes) < 4 / 3 * np.pi * 7.5**3


def test_ms_plaques_lie_near_the_ventricles_or_in_white_matter(ms_case):
    plaques = array(ms_case.case.label) > 0
    brain = array(ms_case.tissues.brain_mask) > 0
    spacing = np.asarray(ms_case.case.label.GetSpacing()[::-1])
    depth = ndimage.distance_transform_edt(brain, sampling=spacing)
    ventricles = (array(ms_case.tissues.csf) > CSF_LEVEL) & (depth >= VENTRICLE_DEPTH_MM)
    near_ventricles = ndimage.distance_transform_edt(~ventricles, sampling=spacing) <= 10.0
    white = array(ms_case.tissues.wm) > 0.5
    share = np.count_nonzero(plaques & (near_ventricles | white)) / np.count_nonzero(plaques)
    # Most of them (juxtacortical plaques reach into the cortex, periventricular ones partly into the
    # ventricles' partial volume).
    assert share > 0.6, f"{share:.2f} of the plaque voxels near the ventricles or in white matter"


def test_the_same_seed_gives_the_same_case(metastasis_cases):
    again = make_phantom_case(METASTASIS_SEEDS[1], options(pathology="metastasis"))
    assert_same_case(again, metastasis_cases[1])
    small = options(pathology="ms", lesion_count=(2, 2))
    assert_same_case(make_phantom_case(2, small), make_phantom_case(2, small))


def test_other_seeds_give_other_lesions(metastasis_cases):
    centres = {spec.center_lps for phantom in metastasis_cases for spec in phantom.lesions}
    assert len(centres) == sum(len(phantom.lesions) for phantom in metastasis_cases)


def test_the_glioma_phantom_is_the_default_and_has_one_tumour():
    default = make_phantom_case(7, options())
    explicit = make_phantom_case(7, options(pathology="glioma", lesion_count=(1, 1),
                                            tumor_diameter_mm=options().tumor_diameter_mm))
    assert_same_case(default, explicit)
    assert len(default.lesions) == 1 and default.lesions[0].pathology == "glioma"
    assert set(np.unique(array(default.case.label))) == {0, 1, 2, 3}
