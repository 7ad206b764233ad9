"""Choosing a pathology and placing several seeds in the browser, in Debian's chromium against a real
``synthpathology app --model <tiny MS model>`` server: the page opens on the model's pathology
(multiple sclerosis) with its label legend and composition controls, refuses a pathology the
model was not trained for in one line, paints one MS plaque per seed, and lists them in its state
and in the downloaded provenance; a raw client cannot choose an unregistered pathology.

The case is the 2 mm healthy phantom; the model is untrained (its voxels are noise): what is
checked is where the lesions go and how they are labelled.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import nibabel as nib
import numpy as np
import pytest
from helpers.models import save_tiny_model
from helpers.web import WslinkClient, app_server, chromium_page, run_async, state, view_area, wait_idle, wait_until
from playwright.sync_api import expect
from scipy import ndimage

from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.pathologies import get_pathology, pathology_names

AXIAL = 0
MS = get_pathology("ms")
CLICKS = ((0.42, 0.45), (0.58, 0.45))  # left- and right-frontal white matter of the phantom (view fractions)


@pytest.fixture(scope="module")
def ms_app(healthy_case, tmp_path_factory):
    """The url of an app serving the 2 mm phantom with a tiny multiple-sclerosis model."""
    root = tmp_path_factory.mktemp("web_pathologies")
    case_folder = write_brats_case(healthy_case, root / "Phantom-healthy")
    model = save_tiny_model(root / "tiny_ms", pathology="ms")
    with app_server(["--case", str(case_folder), "--data", str(root / "data"), "--model", str(model),
                     "--device", "cpu"], root / "server.log") as (url, _process):
        yield url


@pytest.fixture(scope="module")
def page(ms_app):
    with chromium_page() as page:
        page.goto(ms_app)
        wait_idle(page)
        yield page


def _choose_pathology(page, title: str) -> None:
    page.locator(".pathology-select").click()
    page.get_by_role("option", name=title, exact=True).click()


def test_the_page_opens_on_the_model_s_pathology_and_refuses_another_in_one_line(page):
    assert state(page, "pathology") == "ms"
    expect(page.locator(".pathology-select")).to_contain_text(MS.display_name)
    for label in MS.labels:  # the legend: the registry's labels
        expect(page.locator(".label-legend")).to_contain_text(f"{label.value} {label.abbreviation}")
    expect(page.locator(".slider-edema_mm")).to_have_count(0)  # MS has no edema
    expect(page.locator(".enhancing-switch")).to_be_visible()
    assert state(page, "edema_mm") == 0 and state(page, "enhancing") is False
    assert max(state(page, k) for k in ("diameter_rl", "diameter_ap", "diameter_si")) <= MS.diameter_range_mm[1]

    page.locator(".pathology-select").click()
    for name in pathology_names():  # every registered pathology, by its display name
        expect(page.get_by_role("option", name=get_pathology(name).display_name, exact=True)).to_be_visible()
    page.get_by_role("option", name=get_pathology("glioma").display_name, exact=True).click()
    wait_until(page, "s('error') && !s('busy')")
    message = state(page, "error")
    assert "is for pathology 'ms', not 'glioma'" in message and "\n" not in message
    wait_until(page, "s('pathology') === 'ms'")  # the chooser goes back to the model's pathology
    expect(page.locator(".pathology-select")).to_contain_text(MS.display_name)

    page.evaluate("() => window.trame.state.set('error', '')")
    _choose_pathology(page, MS.display_name)
    wait_until(page, "s('pathology') === 'ms' && !s('busy')")
    assert state(page, "error") == ""


def test_two_seeds_paint_two_ms_lesions_listed_in_the_state_and_the_provenance(page):
    page.get_by_label("Generate on every click").uncheck()
    page.get_by_label("Each click adds a seed").check()
    axial = view_area(page, AXIAL)
    box = axial.bounding_box()
    for count, (x, y) in enumerate(CLICKS, start=1):
        axial.click(position={"x": x * box["width"], "y": y * box["height"]})
        wait_until(page, f"s('seed_count') === {count}")
    expect(page.locator(".seed-position")).to_contain_text("2 seeds")

    previous = state(page, "result_id")
    page.get_by_role("button", name="Generate", exact=True).click()
    wait_until(page, f"s('result_id') > {previous} && !s('busy')", timeout_s=300)
    assert state(page, "error") == ""
    lesions = state(page, "result_lesions")
    assert [lesion["pathology"] for lesion in lesions] == ["ms", "ms"]
    assert np.linalg.norm(np.subtract(lesions[0]["center_ras"], lesions[1]["center_ras"])) > 20
    expect(page.locator(".result-lesions")).to_contain_text("2 lesions: WML")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download case (.zip)").click()
    name = state(page, "download_name").removesuffix(".zip")
    with zipfile.ZipFile(io.BytesIO(download_info.value.path().read_bytes())) as archive:
        provenance = json.loads(archive.read(f"{name}/provenance.json"))
        segmentation = nib.Nifti1Image.from_bytes(gzip.decompress(archive.read(f"{name}/{name}-seg.nii.gz")))
    assert [record["lesion"]["pathology"] for record in provenance["lesions"]] == ["ms", "ms"]
    label = np.asarray(segmentation.dataobj)
    assert label.any() and set(np.unique(label)) - {0} <= set(MS.label_values)
    assert ndimage.label(label > 0)[1] == 2  # two separate plaques

    page.locator(".clear-seeds").click()
    wait_until(page, "s('seed_count') === 0 && s('seed_ras') === null")


def test_a_raw_client_cannot_choose_an_unregistered_pathology(page, ms_app):
    """A script on the wslink socket (no page) sends what the page never would: refused, unchanged."""
    wait_until(page, "!s('busy')")

    async def send(value):
        async with WslinkClient(ms_app) as client:
            await client.hello()
            await client.set_state(pathology=value)
            return await client.get_state()

    registered = ", ".join(pathology_names())
    for value, why in (("cancer", f"must be one of {registered}, got 'cancer'"), ("../ms", "got '../ms'"),
                       (3, "must be text")):
        after = run_async(send(value))
        assert after["pathology"] == "ms" and after["error"].startswith("Pathology ") and why in after["error"], value
    page.evaluate("() => window.trame.state.set('error', '')")
