"""Where random lesions go, on the MNI152 template's tissue maps at 2 mm (the phantom's default
brain): multiple-sclerosis plaques periventricular with their long axis perpendicular to the
ventricles' wall, metastases at the grey-white junction, gliomas in white matter. Statistical,
over a fixed-seed series of draws."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.lesions.sampling import (
    CSF_LEVEL,
    JUNCTION,
    MS_SITES,
    PERIVENTRICULAR_MM,
    SEED_WHITE_MATTER,
    VENTRICLE_DEPTH_MM,
    random_lesion_spec,
)
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.phantom.default_brain import load_default_brain

MS_DRAWS = 30
TUMOUR_DRAWS = 30


class Mni:
    """The template's arrays (z, y, x) at 2 mm and measures on them."""

    def __init__(self) -> None:
        brain = load_default_brain(2.0)
        self.grid = brain.t1
        self.mask = sitk.GetArrayFromImage(brain.tissues.brain_mask) > 0
        self.wm = sitk.GetArrayFromImage(brain.tissues.wm)
        self.csf = sitk.GetArrayFromImage(brain.tissues.csf)
        spacing = np.asarray(self.grid.GetSpacing()[::-1])
        depth = ndimage.distance_transform_edt(self.mask, sampling=spacing)
        # The ventricular system: the two largest connected bodies of CSF deep inside the brain (the
        # lateral ventricles with the third, and the posterior horns with the fourth and the cisterns).
        deep_csf = (self.csf > CSF_LEVEL) & (depth >= VENTRICLE_DEPTH_MM)
        components, count = ndimage.label(deep_csf)
        sizes = ndimage.sum(deep_csf, components, range(1, count + 1))
        self.ventricles = np.isin(components, np.argsort(sizes)[::-1][:2] + 1)
        self.to_ventricles = ndimage.distance_transform_edt(~self.ventricles, sampling=spacing)
        gradient_zyx = np.gradient(self.to_ventricles, *spacing)
        self._gradient = np.stack(gradient_zyx[::-1], axis=-1)  # (z, y, x, 3) along index x, y, z
        self._direction = np.reshape(self.grid.GetDirection(), (3, 3))

    def index(self, point_lps) -> tuple[int, int, int]:
        continuous = np.asarray(self.grid.TransformPhysicalPointToContinuousIndex(tuple(point_lps)))
        return tuple(int(v) for v in np.round(continuous).astype(int)[::-1])

    def away_from_ventricles(self, point_lps) -> np.ndarray:
        """Unit LPS direction in which the distance to the ventricles grows fastest at a point."""
        vector = self._direction @ self._gradient[self.index(point_lps)]
        return vector / np.linalg.norm(vector)


@pytest.fixture(scope="module")
def mni() -> Mni:
    return Mni()


def draw(mni: Mni, pathology: str, count: int, seed: int, csf: bool = True) -> list:
    rng = np.random.default_rng(seed)
    sizes = get_pathology(pathology).diameter_range_mm
    specs = [random_lesion_spec(mni.mask, mni.wm, mni.grid, rng, sizes, pathology=pathology,
                                csf=mni.csf if csf else None) for _ in range(count)]
    assert all(spec is not None for spec in specs)
    assert all(spec.pathology == pathology for spec in specs)
    return specs


@pytest.fixture(scope="module")
def ms_specs(mni: Mni) -> list:
    return draw(mni, "ms", MS_DRAWS, seed=11)


def test_the_template_has_a_ventricular_system(mni):
    # What the assertions below measure against: about 30 ml of deep CSF in the two bodies.
    volume_ml = np.count_nonzero(mni.ventricles) * float(np.prod(mni.grid.GetSpacing())) / 1000
    assert 15 < volume_ml < 60


def test_ms_plaques_are_ovoids_within_the_size_range_in_white_matter(mni, ms_specs):
    low, high = get_pathology("ms").diameter_range_mm
    for spec in ms_specs:
        diameters = np.asarray(spec.diameters_mm)
        mean = float(np.prod(diameters) ** (1 / 3))
        assert 0.9 * low <= mean <= 1.1 * high
        assert diameters[0] == diameters.max() and diameters[0] > 1.05 * diameters[1:].min()  # long first axis
        index = mni.index(spec.center_lps)
        assert mni.mask[index] and mni.wm[index] > 0.3
        assert spec.composition.edema_extent_mm == 0 and spec.composition.necrosis_fraction == 0
    means = [np.prod(spec.diameters_mm) ** (1 / 3) for spec in ms_specs]
    assert np.median(means) < (low + high) / 2  # small plaques outnumber large ones
    enhancing = sum(spec.composition.enhancing for spec in ms_specs)
    assert enhancing < len(ms_specs) / 3  # a few are active


def test_ms_plaques_are_often_periventricular_along_the_ventricles_normal(mni, ms_specs):
    near = [spec for spec in ms_specs if mni.to_ventricles[mni.index(spec.center_lps)] <= PERIVENTRICULAR_MM[1]]
    share = len(near) / len(ms_specs)
    # The site prior sends about MS_SITES["periventricular"] of the plaques there.
    assert share > MS_SITES["periventricular"] - 0.2, f"{len(near)} of {len(ms_specs)} periventricular"
    # Dawson's fingers: the long axis points away from the ventricle wall (random axes: mean |cos| 0.5).
    cosines = [abs(mni.away_from_ventricles(spec.center_lps) @ spec.rotation()[:, 0]) for spec in near]
    assert np.mean(cosines) > 0.8, np.round(cosines, 2)
    # They are spread along the ventricles, not stacked on one spot.
    centres = np.array([spec.center_lps for spec in near])
    assert np.ptp(centres, axis=0).max() > 30.0


def test_ms_plaques_are_also_placed_away_from_the_ventricles(mni, ms_specs):
    far = [spec for spec in ms_specs if mni.to_ventricles[mni.index(spec.center_lps)] > 2 * PERIVENTRICULAR_MM[1]]
    assert len(far) >= len(ms_specs) / 5  # juxtacortical, deep and infratentorial plaques


def test_ms_plaques_find_sites_without_a_csf_map(mni):
    specs = draw(mni, "ms", 4, seed=5, csf=False)
    for spec in specs:
        assert mni.mask[mni.index(spec.center_lps)]


def test_metastases_sit_at_the_grey_white_junction_gliomas_in_white_matter(mni):
    metastases = draw(mni, "metastasis", TUMOUR_DRAWS, seed=3)
    gliomas = draw(mni, "glioma", TUMOUR_DRAWS, seed=3)
    wm_metastasis = np.array([mni.wm[mni.index(spec.center_lps)] for spec in metastases])
    wm_glioma = np.array([mni.wm[mni.index(spec.center_lps)] for spec in gliomas])
    at_junction = (wm_metastasis > JUNCTION[0]) & (wm_metastasis < JUNCTION[1])
    assert np.mean(at_junction) > 0.6, np.round(wm_metastasis, 2)
    assert np.all(wm_metastasis > JUNCTION[0])  # in the parenchyma
    assert all(mni.csf[mni.index(spec.center_lps)] <= CSF_LEVEL for spec in metastases)
    assert np.all(wm_glioma > SEED_WHITE_MATTER)
    assert np.median(wm_metastasis) < np.median(wm_glioma) - 0.15


def test_metastases_are_round_enhancing_and_mostly_small(mni):
    low, high = get_pathology("metastasis").diameter_range_mm
    specs = draw(mni, "metastasis", TUMOUR_DRAWS, seed=8)
    means = []
    for spec in specs:
        diameters = np.asarray(spec.diameters_mm)
        assert diameters.max() / diameters.min() < 1.25
        assert spec.composition.enhancing and spec.composition.edema_extent_mm > 0
        assert spec.composition.irregularity < 0.5
        means.append(float(diameters.mean()))
        assert 0.9 * low <= means[-1] <= 1.1 * high
    assert np.median(means) < (low + high) / 2  # log-uniform: small ones outnumber large ones
    assert max(means) > 2 * min(means)


def test_an_unknown_pathology_is_refused(mni):
    with pytest.raises(SynthPathologyError, match="unknown pathology"):
        random_lesion_spec(mni.mask, mni.wm, mni.grid, np.random.default_rng(0), (5.0, 10.0), pathology="nosuch")
