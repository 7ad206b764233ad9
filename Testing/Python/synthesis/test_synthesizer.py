"""Synthesis invariants, with a real (untrained, small) MONAI generator saved and loaded as a
model folder: only the synthesis region changes, the grid, dtype and scale are kept, results are
deterministic per seed, the lesion lands at the seed."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.models import save_tiny_model, seed_in_white_matter
from scipy import ndimage

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.errors import CaseError
from SynthPathologyLib.core.image_io import same_grid
from SynthPathologyLib.evaluation.artifacts import checkerboard_energy
from SynthPathologyLib.lesions.placement import core_centroid_lps
from SynthPathologyLib.lesions.spec import LesionSpec
from SynthPathologyLib.synthesis import synthesizer as synthesizer_module
from SynthPathologyLib.synthesis.synthesizer import Synthesizer
from SynthPathologyLib.synthesis.texture import noise_floor


@pytest.fixture(scope="module")
def synthesizer(tmp_path_factory) -> Synthesizer:
    return Synthesizer(save_tiny_model(tmp_path_factory.mktemp("model")), device="cpu")


def arrays(case: Case) -> dict[str, np.ndarray]:
    return {c: sitk.GetArrayFromImage(i) for c, i in case.images.items()}


def test_only_the_synthesis_region_changes_and_the_grid_dtype_are_kept(synthesizer, healthy_case):
    spec = LesionSpec(center_lps=seed_in_white_matter(healthy_case), diameters_mm=(24, 20, 22), random_seed=1)
    result = synthesizer.synthesize(healthy_case, spec)
    region = sitk.GetArrayFromImage(result.region) > 0
    assert region.any()
    before, after = arrays(healthy_case), arrays(result.case)
    for contrast in before:
        assert same_grid(result.case.images[contrast], healthy_case.images[contrast])
        assert after[contrast].dtype == before[contrast].dtype
        np.testing.assert_array_equal(after[contrast][~region], before[contrast][~region])
        assert not np.array_equal(after[contrast][region], before[contrast][region])
    assert np.linalg.norm(core_centroid_lps(result.label) - np.array(spec.center_lps)) < 3.0


def test_same_seed_same_result_other_seed_other_lesion(synthesizer, healthy_case):
    spec = LesionSpec(center_lps=seed_in_white_matter(healthy_case), diameters_mm=(20, 20, 20), random_seed=3)
    first = arrays(synthesizer.synthesize(healthy_case, spec).case)
    again = arrays(synthesizer.synthesize(healthy_case, spec).case)
    other = synthesizer.synthesize(healthy_case, LesionSpec(spec.center_lps, spec.diameters_mm, random_seed=4))
    for contrast in first:
        np.testing.assert_array_equal(first[contrast], again[contrast])
    assert not np.array_equal(first["flair"], arrays(other.case)["flair"])


def test_input_spacing_other_than_the_models_is_resampled(tmp_path, healthy_case):
    synthesizer = Synthesizer(save_tiny_model(tmp_path / "m", spacing=(1.5, 1.5, 1.5)), device="cpu")
    spec = LesionSpec(center_lps=seed_in_white_matter(healthy_case), diameters_mm=(20, 20, 20))
    result = synthesizer.synthesize(healthy_case, spec)
    region = sitk.GetArrayFromImage(result.region) > 0
    before, after = arrays(healthy_case), arrays(result.case)
    np.testing.assert_array_equal(after["t1"][~region], before["t1"][~region])
    assert not np.array_equal(after["t1"][region], before["t1"][region])


@pytest.mark.parametrize("whole_crop_voxels", [128**3, 16**3], ids=["one-window", "sliding-window"])
def test_a_region_larger_than_a_patch_is_generated_whole_or_by_sliding_window(tmp_path, healthy_case, monkeypatch,
                                                                              whole_crop_voxels):
    monkeypatch.setattr(synthesizer_module, "WHOLE_CROP_VOXELS", whole_crop_voxels)
    synthesizer = Synthesizer(save_tiny_model(tmp_path / "m", patch=(16, 16, 16)), device="cpu")
    windows = []
    synthesizer.inference_generator.register_forward_hook(lambda _m, args, _o: windows.append(args[0].shape[2:]))
    spec = LesionSpec(center_lps=seed_in_white_matter(healthy_case), diameters_mm=(40, 36, 36))
    result = synthesizer.synthesize(healthy_case, spec)
    region = sitk.GetArrayFromImage(result.region) > 0
    extent = [np.ptp(idx) + 1 for idx in np.nonzero(region)]
    assert max(extent) > 16
    if whole_crop_voxels >= 128**3:  # one window holding the whole crop, sides rounded up to the U-Net's multiple
        assert len(windows) == 1 and max(windows[0]) > 16 and all(n >= 16 and n % 4 == 0 for n in windows[0])
    else:
        assert len(windows) > 1 and all(tuple(w) == (16, 16, 16) for w in windows)
    changed = arrays(result.case)["t2"] != arrays(healthy_case)["t2"]
    assert changed[region].mean() > 0.9


def test_remove_lesion_repaints_the_lesion_region(synthesizer, tumor_case):
    tumor = tumor_case
    result = synthesizer.remove_lesion(tumor)
    assert not sitk.GetArrayViewFromImage(result.label).any()
    region = sitk.GetArrayFromImage(result.region) > 0
    assert region[sitk.GetArrayViewFromImage(tumor.label) > 0].all()
    np.testing.assert_array_equal(arrays(result.case)["t1c"][~region], arrays(tumor)["t1c"][~region])
    assert result.provenance["operation"] == "remove"


def test_remove_lesion_without_a_label_is_refused(synthesizer, healthy_case):
    no_label = Case(dict(healthy_case.images), case_id="H")
    with pytest.raises(CaseError, match="case H: no lesion label to remove"):
        synthesizer.remove_lesion(no_label)


def test_provenance_names_the_model_and_its_hash(synthesizer, healthy_case):
    spec = LesionSpec(center_lps=seed_in_white_matter(healthy_case), diameters_mm=(16, 16, 16), random_seed=9)
    provenance = synthesizer.synthesize(healthy_case, spec).provenance
    assert provenance["model_id"] == "tiny"
    assert len(provenance["model_sha256"]) == 64
    assert provenance["random_seed"] == 9
    assert tuple(provenance["lesion"]["center_lps"]) == spec.center_lps


def test_painted_tissue_has_the_grain_of_the_scan_around_it(synthesizer, healthy_case):
    # The untrained generator's output has its own grain; the lesion must carry the scan's.
    spec = LesionSpec(center_lps=seed_in_white_matter(healthy_case), diameters_mm=(24, 24, 24), random_seed=2)
    result = synthesizer.synthesize(healthy_case, spec)
    lesion = sitk.GetArrayFromImage(result.label) > 0
    region = sitk.GetArrayFromImage(result.region) > 0
    brain = sitk.GetArrayFromImage(healthy_case.mask()) > 0
    around = ndimage.binary_dilation(region, iterations=12) & brain & ~region
    assert set(result.provenance["texture"]) == set(healthy_case.images)
    for contrast, image in result.case.images.items():
        painted = checkerboard_energy(sitk.GetArrayFromImage(image).astype(np.float64), lesion)
        scan = noise_floor(sitk.GetArrayFromImage(healthy_case.images[contrast]).astype(np.float64), around)
        assert 1 / 1.5 < painted / scan < 1.5, (contrast, result.provenance["texture"][contrast])
