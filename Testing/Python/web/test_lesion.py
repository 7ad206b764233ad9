"""The browser front end's lesion mode, in Debian's chromium against a real ``synthpathology app``
server (trame-slicer, MRML, the shipped model): the page loads a case, a click in the axial view
places the seed where the view's geometry says, Generate shows the synthetic lesion, the result
downloads as a BraTS case, a lesion of the label library with mass effect is chosen and recorded,
and bad uploads and values are refused while the server keeps working.

The case is a 2 mm healthy phantom (about 100 x 116 x 94 voxels) written by a fixture; the label
library holds the tumour phantom's segmentation.
"""

from __future__ import annotations

import io
import json
import zipfile
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import urlopen

import numpy as np
import pytest
from helpers.library import LIBRARY_FILE, write_library
from helpers.web import (
    VIEWPORT,
    WslinkClient,
    app_server,
    chromium_page,
    grey_pixels,
    run_async,
    separate_servers,
    state,
    view_area,
    wait_idle,
    wait_until,
)
from playwright.sync_api import expect

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.io.brats import write_brats_case

AXIAL = 0


@pytest.fixture(scope="module")
def lesion_app(healthy_case, tumor_case, tmp_path_factory):
    """(url, data folder) of an app serving the 2 mm phantom case, with a label library."""
    root = tmp_path_factory.mktemp("web_lesion")
    case_folder = write_brats_case(healthy_case, root / "Phantom-healthy")
    library = write_library(tumor_case, root / "library").parent
    data = root / "data"
    with app_server(["--case", str(case_folder), "--data", str(data), "--label-library", str(library)],
                    root / "server.log") as (url, _process):
        yield url, data


@pytest.fixture(scope="module")
def page(lesion_app):
    url, _ = lesion_app
    with chromium_page() as page:
        page.load_errors = []
        page.on("console", lambda message: message.type == "error" and page.load_errors.append(message.text))
        page.goto(url)
        wait_idle(page)
        yield page


def test_page_shows_the_case_and_the_views(page):
    expect(page.get_by_text("Case: Phantom-healthy")).to_be_visible()
    assert page.locator("img.image-display-area").count() == 4
    assert sorted(state(page, "slice_xy_to_ras")) == ["Green", "Red", "Yellow"]
    assert page.load_errors == [], "the browser console shows errors on load"


def test_click_places_the_seed_and_generate_shows_the_lesion(page):
    page.get_by_label("Generate on every click").uncheck()  # look at the seed alone first
    axial = view_area(page, AXIAL)
    box = axial.bounding_box()
    click = (0.42 * box["width"], 0.45 * box["height"])  # left-frontal white matter of the phantom
    axial.click(position={"x": click[0], "y": click[1]})
    wait_until(page, "s('seed_ras')")

    # The seed is the clicked pixel through the axial slice node's XYToRAS (origin bottom-left).
    xy_to_ras = np.reshape(state(page, "slice_xy_to_ras")["Red"], (4, 4))
    expected = (xy_to_ras @ [click[0], box["height"] - click[1], 0.0, 1.0])[:3]
    pixel_mm = np.linalg.norm(xy_to_ras[:3, 0])
    np.testing.assert_allclose(state(page, "seed_ras"), expected, atol=1.5 * pixel_mm + 0.05)

    page.wait_for_timeout(1000)  # the ROI's frame
    before = grey_pixels(page, axial, click, 20)
    page.get_by_role("button", name="Generate", exact=True).click()
    wait_until(page, "s('has_result') && !s('busy')")
    page.wait_for_timeout(1000)
    after = grey_pixels(page, axial, click, 20)
    assert np.abs(after - before).mean() > 8, "no synthetic lesion around the seed"
    assert state(page, "error") == ""
    expect(page.locator(".result-time")).to_contain_text("from T1, T1c, T2, FLAIR")  # the contrasts it used

    page.get_by_role("button", name="Original", exact=True).click()
    page.wait_for_timeout(1500)
    original = grey_pixels(page, axial, click, 20)
    assert np.abs(original - before).mean() < np.abs(after - before).mean() / 3, "Original still shows the lesion"
    page.get_by_role("button", name="Synthetic", exact=True).click()
    wait_until(page, "s('show_synthetic') === true && !s('busy')")
    assert state(page, "error") == ""


def test_download_is_a_brats_case_with_provenance(page, lesion_app):
    wait_until(page, "s('has_result') && !s('busy')")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download case (.zip)").click()
    download = download_info.value
    assert download.suggested_filename == "Phantom-healthy-synth-seed0.zip"
    with zipfile.ZipFile(io.BytesIO(download.path().read_bytes())) as archive:
        names = sorted(archive.namelist())
        provenance = archive.read("Phantom-healthy-synth-seed0/provenance.json")
    prefix = "Phantom-healthy-synth-seed0/Phantom-healthy-synth-seed0-"
    assert names == sorted([f"{prefix}{s}.nii.gz" for s in ("t1n", "t1c", "t2w", "t2f", "seg")]
                           + ["Phantom-healthy-synth-seed0/provenance.json"])
    assert b'"random_seed"' in provenance
    _, data = lesion_app
    assert not any((data / "downloads").iterdir()), "download folders must not pile up"


def test_bad_uploads_get_a_message_and_the_server_keeps_working(page, tmp_path):
    upload = page.locator("input[type=file]")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    upload.set_input_files(str(text_file))
    wait_until(page, "s('error')")
    assert "notes.txt: not an image file" in state(page, "error")
    expect(page.locator(".error-banner")).to_be_visible()

    corrupt = []
    for suffix in ("t1n", "t1c", "t2w", "t2f"):
        path = tmp_path / f"Broken-{suffix}.nii.gz"
        path.write_bytes(b"\x1f\x8b garbage, not a NIfTI file")
        corrupt.append(str(path))
    page.evaluate("() => window.trame.state.set('error', '')")
    upload.set_input_files(corrupt)
    wait_until(page, "s('error') && !s('busy')")
    message = state(page, "error")
    assert message.startswith("Broken-t1n.nii.gz: not a readable gzip file"), message
    assert "/" not in message.split(":")[0], "the message must not show server paths"

    # Still serving: another variant is generated on the case that was open.
    page.get_by_role("button", name="Next variant").click()
    wait_until(page, "s('random_seed') == 1 && s('has_result') && !s('busy')")
    assert state(page, "case_id") == "Phantom-healthy"
    assert state(page, "error") == ""
    assert state(page, "download_name") == "Phantom-healthy-synth-seed1.zip"


# In one page task: the opacity goes to the server (the page then waits for its reply), the edema
# extent and random seed change (held back until that reply), and Generate is clicked.
CHANGE_AND_GENERATE = """() => {
    window.trame.state.set('opacity', 0.9);
    window.trame.state.set('edema_mm', 3);
    window.trame.state.set('random_seed', 7);
    document.querySelector('.generate-button').click();
}"""


def test_generate_uses_the_settings_on_screen_when_clicked(page):
    wait_until(page, "s('has_result') && !s('busy')")
    previous = state(page, "result_id")
    page.evaluate(CHANGE_AND_GENERATE)
    wait_until(page, f"s('result_id') > {previous} && !s('busy')")
    assert state(page, "download_name") == "Phantom-healthy-synth-seed7.zip"
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download case (.zip)").click()
    with zipfile.ZipFile(io.BytesIO(download_info.value.path().read_bytes())) as archive:
        provenance = json.loads(archive.read("Phantom-healthy-synth-seed7/provenance.json"))
    assert provenance["random_seed"] == 7
    assert provenance["lesion"]["composition"]["edema_extent_mm"] == 3.0


def test_sliders_show_their_values(page):
    for name in ("edema_mm", "necrosis", "mass_effect_mm", "opacity"):
        expect(page.locator(f".slider-value-{name}")).to_have_text(f"{state(page, name):g}")


def test_bad_values_get_a_clear_message_and_change_nothing(page):
    wait_until(page, "!s('busy')")
    page.evaluate("() => window.trame.state.set('random_seed', -1)")
    wait_until(page, "s('error')")
    assert state(page, "error") == "Random seed must be a whole number from 0 to 2147483647, got -1"
    wait_until(page, "s('random_seed') === 7")  # the page gets the server's value back
    previous = state(page, "result_id")
    page.evaluate("""() => {
        window.trame.state.set('error', '');
        window.trame.state.set('edema_mm', 'inf');
        document.querySelector('.generate-button').click();
    }""")
    wait_until(page, "s('error') && !s('busy')")
    assert state(page, "error") == "Edema (mm) must be a number from 0 to 30, got 'inf'"
    assert state(page, "result_id") == previous and "internal error" not in state(page, "error")


def test_a_refused_click_leaves_the_views_where_they_were(page):
    wait_until(page, "s('seed_ras') && !s('busy')")
    page.evaluate("() => window.trame.state.set('error', '')")
    page.get_by_label("Generate on every click").check()
    seed, planes = state(page, "seed_ras"), state(page, "slice_xy_to_ras")
    axial = view_area(page, AXIAL)
    box = axial.bounding_box()
    axial.click(position={"x": 0.97 * box["width"], "y": 0.5 * box["height"]})  # the right edge: outside the brain
    wait_until(page, "s('error') && !s('busy')")
    assert "outside the" in state(page, "error")  # the image, or the brain
    page.wait_for_timeout(500)
    assert state(page, "seed_ras") == seed and state(page, "slice_xy_to_ras") == planes


def test_a_library_lesion_with_mass_effect_is_chosen_generated_and_recorded(page):
    wait_until(page, "s('seed_ras') && !s('busy')")
    page.evaluate("() => window.trame.state.set('error', '')")
    page.locator(".lesion-shape").click()
    expect(page.get_by_role("option", name="Parametric")).to_be_visible()
    page.get_by_role("option", name=LIBRARY_FILE).click()
    wait_until(page, f"s('lesion_shape') === '{LIBRARY_FILE}'")
    thumb = page.locator(".slider-mass_effect_mm [role=slider]")
    thumb.focus()
    for _ in range(12):  # 0.5 mm a key; a busy page may drop one, so press until the server holds 2 mm
        if state(page, "mass_effect_mm") >= 2:
            break
        thumb.press("ArrowRight")
        page.wait_for_timeout(400)
    expect(page.locator(".slider-value-mass_effect_mm")).to_have_text("2")

    previous = state(page, "result_id")
    page.get_by_role("button", name="Generate", exact=True).click()
    wait_until(page, f"s('result_id') > {previous} && !s('busy')")
    assert state(page, "error") == ""
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download case (.zip)").click()
    name = state(page, "download_name").removesuffix(".zip")
    with zipfile.ZipFile(io.BytesIO(download_info.value.path().read_bytes())) as archive:
        provenance = json.loads(archive.read(f"{name}/provenance.json"))
    assert provenance["lesion"]["library"]["source"] == LIBRARY_FILE
    assert provenance["mass_effect"]["displacement_mm"] == 2.0


def test_a_raw_client_cannot_choose_a_path_or_an_unlisted_shape(page, lesion_app):
    """A script on the wslink socket (no page) sends what the page never would: refused, unchanged."""
    url, _ = lesion_app
    wait_until(page, "!s('busy')")
    shown = state(page, "lesion_shape")

    async def send(**changes):
        async with WslinkClient(url) as client:
            await client.hello()
            await client.set_state(**changes)
            return await client.get_state()

    for changes in ({"lesion_shape": "/etc/hostname"}, {"lesion_shape": f"../library/{LIBRARY_FILE}"},
                    {"mass_effect_mm": 50}):
        after = run_async(send(**changes))
        assert after["lesion_shape"] == shown and after["mass_effect_mm"] == 2.0, changes
        assert after["error"].startswith(("Lesion shape must be one of parametric, ", "Mass effect (mm) must be")), \
            after["error"]
    page.evaluate("() => window.trame.state.set('error', '')")


def test_each_user_gets_an_own_server_and_no_one_sees_another_s_upload(page, healthy_case, tmp_path):
    """``--users u1,u2``: one server, link and data folder per user; u1's upload (T1c and FLAIR only:
    the default model takes any subset) opens and paints in u1's page only, and u1's token does not
    open u2's server. u1's page opens in the module's browser: a second playwright would find the
    first one's event loop running in this thread."""
    case_folder = write_brats_case(healthy_case, tmp_path / "Phantom-healthy")
    other = Case({c: healthy_case.images[c] for c in ("t1c", "flair")}, case_id="Other-007")
    upload = sorted(str(p) for p in write_brats_case(other, tmp_path / "upload" / "Other-007").iterdir())
    data = tmp_path / "data"
    with separate_servers(["--case", str(case_folder), "--resolution", "2", "--data", str(data)], "user",
                          ["u1", "u2"], tmp_path / "users.log") as (links, _):
        u1, u2 = urlsplit(links["u1"]), urlsplit(links["u2"])
        with pytest.raises(HTTPError, match="403"):  # u1's link does not open u2's server
            urlopen(f"http://{u2.netloc}/?{u1.query}")
        u1_page = page.context.browser.new_page(viewport=VIEWPORT)
        try:
            u1_page.goto(links["u1"])
            wait_until(u1_page, "s('case_id') === 'Phantom-healthy' && !s('busy')")
            u1_page.locator("input[type=file]").set_input_files(upload)
            wait_until(u1_page, "s('case_id') === 'Other-007' && !s('busy')")
            axial = view_area(u1_page, AXIAL)
            box = axial.bounding_box()
            axial.click(position={"x": 0.42 * box["width"], "y": 0.45 * box["height"]})  # generates on click
            wait_until(u1_page, "s('has_result') && !s('busy')")
            assert state(u1_page, "error") == "" and state(u1_page, "used_contrasts") == "T1c, FLAIR"
        finally:
            u1_page.close()

        async def case_shown_to_u2():
            async with WslinkClient(links["u2"]) as client:
                await client.hello()
                return (await client.get_state())["case_id"]

        assert run_async(case_shown_to_u2()) == "Phantom-healthy", "u1's upload shows in u2's page"
        assert sorted(p.name for p in data.iterdir()) == ["u1", "u2"]  # a data folder each
