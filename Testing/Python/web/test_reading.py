"""The browser front end's reading mode, in Debian's chromium against a real ``synthpathology app
--reading`` server: a reader answers the case on screen in the page, and the answer is in the
reader's journal, as ``synthpathology turing status`` reports it."""

from __future__ import annotations

import asyncio
import re
import resource
import subprocess
import sys
from contextlib import contextmanager

from helpers.turing import make_package
from helpers.web import REPOSITORY, WslinkClient, app_server, chromium_page, run_async, state, wait_idle, wait_until
from playwright.sync_api import expect

from SynthPathologyLib.turing.journal import read_journal
from SynthPathologyLib.turing.session import reader_order
from SynthPathologyLib.turing.study_package import open_package

# In one page task: a new comment goes to the server (the page then waits for its reply), the
# label changes to Real (held back until that reply), and Submit is clicked twice.
CHANGE_AND_SUBMIT_TWICE = """() => {
    window.trame.state.set('answer_comment', 'changed my mind');
    window.trame.state.set('answer_label', 'real');
    const submit = document.querySelector('.submit-answer');
    submit.click();
    submit.click();
}"""


# A tab that still shows case 1 (its state not yet updated) submits its (other) answer for it.
STALE_TAB_SUBMITS = """() => {
    window.trame.state.set('reading_position', 1);
    document.querySelector('.submit-answer').click();
}"""


@contextmanager
def reading_page(tmp_path, served=None):
    """A 4-case package for reader r1, served in reading mode and open in chromium on its first
    case: yields (package folder, page); ``served`` (a list) receives the link and the process."""
    package, _key = make_package(tmp_path, n_real=2, n_synthetic=2, readers=("r1",))
    with app_server(["--reading", str(package), "--reader", "r1"], tmp_path / "server.log") as (url, process), \
            chromium_page() as page:
        if served is not None:
            served.extend((url, process))
        page.goto(url)
        wait_idle(page)
        yield package, page


def choose(page, label: str, confidence: int, realism: int) -> None:
    page.get_by_role("button", name=label).click()
    page.locator(".answer_confidence").get_by_role("button", name=str(confidence)).click()
    page.locator(".answer_realism").get_by_role("button", name=str(realism)).click()


def only_answer(package):
    (record,) = read_journal(open_package(package), "r1").records
    return record.label, record.confidence, record.realism, record.comment


def test_an_answer_in_the_page_is_committed_to_the_journal(tmp_path):
    with reading_page(tmp_path) as (package, page):
        expect(page.get_by_text("Case 1 / 4")).to_be_visible()
        shown = [node for node in ("T1", "T1c", "T2", "FLAIR") if page.get_by_role("button", name=node).count()]
        assert shown == ["T1", "T1c", "T2", "FLAIR"]

        choose(page, "Synthetic", 4, 2)
        page.get_by_label("Comment (optional)").fill("rim too smooth")
        page.get_by_role("button", name="Submit and next").click()
        wait_until(page, "s('progress_text') === '2 / 4' && !s('busy')")
        assert state(page, "answer_label") is None, "the form is cleared for the next case"

        status = subprocess.run([sys.executable, "-m", "SynthPathologyLib", "turing", "status", str(package)],
                                capture_output=True, text=True, cwd=REPOSITORY, check=True)
    assert "r1: 1/4 answered" in status.stdout
    assert only_answer(package) == ("synthetic", 4, 2, "rim too smooth")


def test_the_answer_on_screen_when_submitted_is_recorded_once(tmp_path):
    with reading_page(tmp_path) as (package, page):
        choose(page, "Synthetic", 4, 2)
        wait_until(page, "!s('busy')")
        page.evaluate(CHANGE_AND_SUBMIT_TWICE)
        wait_until(page, "s('progress_text') === '2 / 4' && !s('busy')")
        page.wait_for_timeout(1000)  # time for a second answer to be (wrongly) recorded
        assert state(page, "progress_text") == "2 / 4" and not state(page, "error")
    assert only_answer(package) == ("real", 4, 2, "changed my mind")


def test_refused_answers_are_shown_in_the_page_and_not_recorded(tmp_path):
    """One reader, one server, three refusals in turn: a save that fails (no file may grow, as on a
    full disk) stays on screen with the form as it was; a second tab's answer for a case already
    answered; an answer for a case that never showed (its file is damaged)."""
    served = []
    with reading_page(tmp_path, served) as (package, page):
        url, process = served
        opened = open_package(package)
        order = reader_order(opened.manifest.package_id, opened.manifest.case_ids, "r1")
        choose(page, "Synthetic", 4, 2)
        wait_until(page, "!s('busy')")
        limits = resource.prlimit(process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (0, limits[1]))
        try:
            page.get_by_role("button", name="Submit and next").click()
            wait_until(page, "s('error') && !s('busy')")
            page.wait_for_timeout(1000)  # time for a later step to clear it (it must not)
        finally:
            resource.prlimit(process.pid, resource.RLIMIT_FSIZE, limits)
        expect(page.locator(".error-banner")).to_contain_text("could not save the answer")
        assert state(page, "progress_text") == "1 / 4" and state(page, "answer_label") == "synthetic"

        page.get_by_role("button", name="Submit and next").click()
        wait_until(page, "s('progress_text') === '2 / 4' && !s('busy')")
        choose(page, "Real", 5, 5)
        wait_until(page, "!s('busy')")
        page.evaluate(STALE_TAB_SUBMITS)
        wait_until(page, "s('error') && !s('busy')")
        expect(page.locator(".error-banner")).to_contain_text("case 1 was answered already")

        opened.case_files(order[2])["flair"].write_bytes(b"damaged")  # case 3 will fail to load
        page.evaluate("() => window.trame.state.set('error', '')")
        wait_until(page, "!s('error')")
        page.get_by_role("button", name="Submit and next").click()
        wait_until(page, "s('error') && !s('busy')")
        assert "no case is on screen" not in state(page, "error")  # the loading error
        template = state(page, "trame__template_main")

        async def answer_case_3():
            async with WslinkClient(url) as client:
                await client.hello()
                trigger = re.search(r"trigger\('(\w+)', \[\{reading_position", template).group(1)
                shown = {"reading_position": 3, "answer_label": "real", "answer_confidence": 5,
                         "answer_realism": 5, "answer_comment": ""}
                await client.call("trame.trigger", [trigger, [shown], {}])
                await asyncio.sleep(2)

        run_async(answer_case_3())
        wait_until(page, "!s('busy')")
        expect(page.locator(".error-banner")).to_contain_text("no case is on screen to answer")
    records = read_journal(open_package(package), "r1").records
    assert [(r.case, r.label, r.confidence) for r in records] == [(order[0], "synthetic", 4), (order[1], "real", 5)]
