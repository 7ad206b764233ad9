"""The brain phantom: BraTS-like four-contrast cases, with or without glioma, at 2 mm."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.io.brats import find_brats_cases, read_brats_case
from SynthPathologyLib.io.montage import save_montage
from SynthPathologyLib.lesions.placement import core_centroid_lps
from SynthPathologyLib.lesions.spec import LesionSpec
from SynthPathologyLib.phantom.dataset import write_phantom_dataset
from SynthPathologyLib.phantom.generator import PhantomCase, PhantomOptions, make_phantom_case
from SynthPathologyLib.phantom.mr_signal import signal_table

NCR, ED, ET = 1, 2, 3
CONTRASTS = ["t1", "t1c", "t2", "flair"]


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def region_means(phantom: PhantomCase) -> dict[str, dict[str, float]]:
    """Contrast -> region -> mean intensity; regions: the three tumor labels and nearly pure
    tissue outside the lesion."""
    label = array(phantom.case.label)
    regions = {"NCR": label == NCR, "ED": label == ED, "ET": label == ET}
    for name in ("csf", "gm", "wm"):
        regions[name.upper()] = (array(getattr(phantom.tissues, name)) > 0.8) & (label == 0)
    return {
        contrast: {name: float(array(image)[where].mean()) for name, where in regions.items()}
        for contrast, image in phantom.case.images.items()
    }


def test_cases_hold_four_int16_contrasts_on_one_grid_with_a_zero_background(tumor_case, healthy_case):
    for case in (tumor_case, healthy_case):
        assert case.contrasts == CONTRASTS
        assert case.reference.GetSpacing() == pytest.approx((2.0, 2.0, 2.0))
        brain = array(case.brain_mask) != 0
        for image in case.images.values():
            values = array(image)
            assert values.dtype == np.int16
            assert np.all(values[~brain] == 0)  # skull-stripped, as BraTS
            assert values[brain].min() >= 1  # so the brain is exactly the non-zero voxels
        assert case.label.GetPixelID() == sitk.sitkUInt8
    assert np.array_equal(array(tumor_case.brain_mask), array(healthy_case.brain_mask))


def test_healthy_case_has_an_empty_label(healthy_phantom):
    assert healthy_phantom.lesion is None
    assert not array(healthy_phantom.case.label).any()


def test_tumor_label_holds_nested_regions_around_the_seed(tumor_phantom):
    label = array(tumor_phantom.case.label)
    assert set(np.unique(label)) == {0, NCR, ED, ET}
    core = (label == NCR) | (label == ET)
    # Necrosis lies inside the enhancing rim; edema wraps the core.
    around_necrosis = ndimage.binary_dilation(label == NCR, np.ones((3, 3, 3))) & (label != NCR)
    assert set(np.unique(label[around_necrosis])) == {ET}
    around_core = ndimage.binary_dilation(core, np.ones((3, 3, 3))) & ~core
    assert np.mean(label[around_core] == ED) > 0.75  # the rest: brain surface
    assert np.all(array(tumor_phantom.case.brain_mask)[label > 0] == 1)
    centroid = core_centroid_lps(tumor_phantom.case.label)
    assert np.linalg.norm(centroid - tumor_phantom.lesion.center_lps) < 5.0


def test_same_seed_gives_the_same_case_and_other_seeds_other_anatomy(tumor_phantom, healthy_phantom):
    again = make_phantom_case(tumor_phantom.seed, PhantomOptions(resolution_mm=2.0))
    for contrast in CONTRASTS:
        assert np.array_equal(array(again.case.images[contrast]), array(tumor_phantom.case.images[contrast]))
    assert np.array_equal(array(again.case.label), array(tumor_phantom.case.label))
    assert again.lesion == tumor_phantom.lesion

    other = make_phantom_case(tumor_phantom.seed + 1, PhantomOptions(resolution_mm=2.0, healthy=True))
    brain = (array(healthy_phantom.case.brain_mask) | array(other.case.brain_mask)) != 0
    difference = np.abs(array(healthy_phantom.tissues.wm) - array(other.tissues.wm))[brain]
    assert np.mean(difference) > 0.1  # anatomy is deformed differently
    assert not np.array_equal(array(healthy_phantom.case.brain_mask), array(other.case.brain_mask))


def test_signal_model_gives_the_expected_contrasts():
    t1, t1c, t2, flair = (signal_table()[c] for c in CONTRASTS)
    assert t1["wm"] > t1["gm"] > t1["csf"] and t2["csf"] > t2["gm"] > t2["wm"]
    assert flair["csf"] == pytest.approx(0.0, abs=1e-12)  # TI nulls CSF
    assert t1c["enhancing"] > 1.3 * t1c["wm"] and t1["enhancing"] < t1["wm"]  # gadolinium enhancement
    assert t1c["necrosis"] < t1c["gm"]
    for contrast in (t2, flair):
        assert contrast["edema"] > 1.5 * max(contrast["gm"], contrast["wm"])
    assert t2["necrosis"] > 0.9 * t2["csf"]  # fluid-like


def test_contrasts_follow_the_signal_model(tumor_phantom):
    m = region_means(tumor_phantom)
    t1, t1c, t2, flair = (m[c] for c in CONTRASTS)
    assert t1["WM"] > t1["GM"] > t1["CSF"]
    assert t2["CSF"] > t2["GM"] > t2["WM"]
    # Enhancing tumor lights up after gadolinium; necrosis stays dark.
    assert t1c["ET"] > 1.2 * t1c["WM"]
    assert t1c["ET"] / t1c["WM"] > 1.3 * t1["ET"] / t1["WM"]
    assert t1c["NCR"] < t1c["GM"] and t1c["NCR"] < 0.6 * t1c["ET"]
    # Edema is bright on T2 and FLAIR; necrosis is fluid-like on T2.
    for contrast in (t2, flair):
        assert contrast["ED"] > 1.15 * max(contrast["WM"], contrast["GM"])
    assert t2["NCR"] > t2["ED"] > t2["WM"]
    # FLAIR nulls CSF.
    assert flair["CSF"] < 0.3 * flair["WM"]


def test_mass_effect_pushes_tissue_away_from_the_tumor(tumor_phantom, healthy_phantom):
    """Around the tumor, the tumor case's tissue matches the healthy case's tissue found nearer
    the seed: the best radial shift s (tumor(p) ~ healthy(p - s u)) is outward."""
    reference = tumor_phantom.case.reference
    center = np.asarray(reference.TransformPhysicalPointToContinuousIndex(tumor_phantom.lesion.center_lps))[::-1]
    radius = np.mean(tumor_phantom.lesion.diameters_mm) / 2 / reference.GetSpacing()[0]  # voxels
    points = np.argwhere(array(healthy_phantom.case.brain_mask) != 0).T
    offset = points - center[:, None]
    distance = np.linalg.norm(offset, axis=0)
    shell = (distance > radius) & (distance < 2.5 * radius)
    points, outward = points[:, shell], offset[:, shell] / distance[shell]

    def mismatch(shift: float) -> float:
        total = 0.0
        for name in ("gm", "wm"):
            healthy = ndimage.map_coordinates(array(getattr(healthy_phantom.tissues, name)), points - shift * outward, order=1)
            total += np.mean((array(getattr(tumor_phantom.tissues, name))[tuple(points)] - healthy) ** 2)
        return total

    shifts = np.arange(-2.0, 2.01, 0.25)
    errors = [mismatch(s) for s in shifts]
    best = shifts[int(np.argmin(errors))]
    assert best > 0
    assert min(errors) < 0.7 * mismatch(0.0)


def test_bias_field_and_noise_are_present(healthy_phantom):
    """The case over its noise- and bias-free twin: a smooth field, different per contrast, times
    voxel-to-voxel noise."""
    clean = make_phantom_case(
        healthy_phantom.seed, PhantomOptions(resolution_mm=2.0, healthy=True, bias_field=0.0, noise_percent=0.0)
    )
    white_matter = ndimage.binary_erosion(array(healthy_phantom.tissues.wm) > 0.95)
    fields = []
    for contrast in CONTRASTS:
        ratio = array(healthy_phantom.case.images[contrast]) / np.maximum(array(clean.case.images[contrast]), 1)
        ratio /= np.median(ratio[white_matter])
        smooth = ndimage.uniform_filter(ratio, 5)
        # The bias field swings intensities by a few % or more across the white matter ...
        assert np.ptp(np.percentile(smooth[white_matter], [5, 95])) > 0.03
        # ... and noise varies voxel to voxel.
        assert np.std(ratio[white_matter] - smooth[white_matter]) > 0.005
        fields.append(smooth[white_matter])
    # One field per contrast (independent, so no two coincide).
    assert np.corrcoef(fields).max(initial=-1, where=~np.eye(len(CONTRASTS), dtype=bool)) < 0.99


def test_write_phantom_dataset_writes_brats_cases(tmp_path):
    folders = write_phantom_dataset(tmp_path, 2, seed=3, options=PhantomOptions(resolution_mm=2.0), progress=False)
    assert [f.name for f in folders] == ["Phantom-00000", "Phantom-00001"]
    assert find_brats_cases(tmp_path) == folders
    first = None
    for folder in folders:
        case = read_brats_case(folder, require_label=True)
        assert case.contrasts == CONTRASTS
        assert set(np.unique(array(case.label))) == {0, NCR, ED, ET}
        provenance = json.loads((folder / "phantom.json").read_text())
        (spec,) = (LesionSpec.from_dict(lesion) for lesion in provenance["lesions"])
        assert core_centroid_lps(case.label) == pytest.approx(spec.center_lps, abs=5.0)
        first = first if first is not None else array(case.images["t1"])
    assert not np.array_equal(first, array(case.images["t1"]))  # cases differ


def test_cases_drawn_in_parallel_processes_are_the_cases_drawn_in_one(tmp_path):
    options = PhantomOptions(resolution_mm=2.0)
    serial = write_phantom_dataset(tmp_path / "serial", 2, seed=4, options=options, progress=False)
    parallel = write_phantom_dataset(tmp_path / "parallel", 2, seed=4, options=options, progress=False, workers=2)
    assert [f.name for f in parallel] == [f.name for f in serial]
    for one, other in zip(serial, parallel):
        names = sorted(p.name for p in one.iterdir())
        assert names == sorted(p.name for p in other.iterdir())
        for name in names:
            assert (one / name).read_bytes() == (other / name).read_bytes(), name


def test_a_phantom_dataset_run_continues_where_one_stopped(tmp_path):
    """Cases already written are kept (and reported as resumed); the missing ones are the cases an
    unbroken run writes."""
    options = PhantomOptions(resolution_mm=2.0, healthy=True)
    whole = write_phantom_dataset(tmp_path / "whole", 2, seed=5, options=options, progress=False)
    write_phantom_dataset(tmp_path / "part", 1, seed=5, options=options, progress=False)
    resumed = write_phantom_dataset(tmp_path / "part", 2, seed=5, options=options, progress=False)
    assert [f.name for f in resumed] == [f.name for f in whole]
    t1 = Path("Phantom-00001") / "Phantom-00001-t1n.nii.gz"
    assert (tmp_path / "part" / t1).read_bytes() == (tmp_path / "whole" / t1).read_bytes()
    report = json.loads((tmp_path / "part" / "report.json").read_text())
    assert report["resumed"] == ["Phantom-00000"] and report["written"] == ["Phantom-00000", "Phantom-00001"]


def test_invalid_options_are_refused():
    with pytest.raises(SynthPathologyError, match="resolution_mm"):
        PhantomOptions(resolution_mm=0)
    with pytest.raises(SynthPathologyError, match="tumor_diameter_mm"):
        PhantomOptions(tumor_diameter_mm=(30.0, 10.0))


def test_montage_shows_three_planes_and_the_label(tumor_case, tmp_path):
    path = save_montage(tumor_case, tmp_path / "montage.png")
    picture = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert picture.dtype == np.uint8 and picture.shape[2] == 3
    height, width, _ = picture.shape
    assert width > 5 * 140 and height > 3 * 140  # five columns and three rows of ~1 mm pixels
    gray = (picture[..., 0] == picture[..., 1]) & (picture[..., 1] == picture[..., 2])
    assert np.count_nonzero(~gray) > 100  # the label overlay is coloured
    assert np.count_nonzero(~gray[:, : width * 4 // 5]) == 0  # the contrast columns are grey


@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1), (-1, 0, 0, 0, -1, 0, 0, 0, 1)])
def test_montage_follows_radiological_conventions(tmp_path, direction):
    """A marker at the patient's left, anterior and superior shows up top in every view (anterior
    up in axial views, superior up in the others), on the image right in axial and coronal views
    (patient left on the right) and on the left in sagittal views (anterior left)."""
    values = np.random.default_rng(0).integers(100, 200, (61, 61, 61)).astype(np.int16)
    image = sitk.GetImageFromArray(values)
    image.SetDirection(direction)
    image.SetOrigin(tuple(-np.reshape(direction, (3, 3)) @ np.full(3, 30.0)))  # centre at LPS (0, 0, 0)
    marker_lps = (15.0, -15.0, 15.0)  # left, anterior, superior
    x, y, z = image.TransformPhysicalPointToIndex(marker_lps)
    values[z - 2 : z + 3, y - 2 : y + 3, x - 2 : x + 3] = 1000
    marked = sitk.GetImageFromArray(values)
    marked.CopyInformation(image)
    path = save_montage(Case({"t1": marked}, case_id="marker"), tmp_path / "marker.png", center_lps=marker_lps)

    gray = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))[..., 0].astype(int)
    rows = np.flatnonzero(gray.any(axis=1))
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    assert len(bands) == 3
    for plane, band in zip(("axial", "coronal", "sagittal"), bands):
        panel = gray[band]
        columns = np.flatnonzero(panel.any(axis=0))
        marker_row, marker_column = np.argwhere(panel == panel.max()).mean(axis=0)
        assert marker_row < (len(band) - 1) / 2, plane
        if plane == "sagittal":
            assert marker_column < (columns[0] + columns[-1]) / 2
        else:
            assert marker_column > (columns[0] + columns[-1]) / 2, plane
