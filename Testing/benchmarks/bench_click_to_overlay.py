"""Click-to-overlay latency of the browser app: from a click in the axial view to the synthetic
lesion on screen, in Debian's chromium against a real ``synthpathology app`` server.

Each run clicks a new white-matter point of the default brain (generate-on-click is on). Times are
taken in the page's clock, from the click's pointerdown to the load of the first axial frame that
shows the lesion (``click_to_overlay_s``; a screenshot of the clicked neighbourhood after each new
frame checks it), and to the page's state saying the work is done (``click_to_idle_s``: the other
views have rendered too). The first click, which also prepares the case (brain mask,
normalization, white-matter map), is reported apart. Prints JSON (seconds; medians over the runs):

    python Testing/benchmarks/bench_click_to_overlay.py [--resolution 1] [--runs 7] [--screenshot PNG]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Python"))
from helpers.web import app_server, chromium_page, grey_pixels, state, view_area, wait_idle, wait_until  # noqa: E402

# Axial view positions (fractions of the view's width and height) in deep white matter.
CLICKS = [(0.42, 0.42), (0.58, 0.42), (0.41, 0.55), (0.59, 0.55), (0.44, 0.36), (0.56, 0.36), (0.43, 0.48),
          (0.57, 0.48), (0.45, 0.60)]
HALF_PX = 20  # screenshot half-size around the click
CHANGED = 8.0  # mean grey-level change that means the lesion is shown
# In the page's clock: when the click's pointer goes down, and when each frame of the axial view has
# loaded (decoded, about to be drawn).
RECORD_FRAMES = """image => {
    window.__bench = {frames: [], down: null};
    image.addEventListener('load', () => window.__bench.frames.push(performance.now()));
}"""
ARM_CLICK = """() => {
    window.__bench = {frames: [], down: null};
    document.addEventListener('pointerdown', () => { window.__bench.down = performance.now(); },
                              {capture: true, once: true});
}"""
MORE_FRAMES_OR_ERROR = "n => window.__bench.frames.length > n || window.trame.state.get('error')"


def click_to_overlay(page, axial, fraction) -> dict:
    box = axial.bounding_box()
    xy = (fraction[0] * box["width"], fraction[1] * box["height"])
    before = grey_pixels(page, axial, xy, HALF_PX)
    previous = state(page, "result_id")
    page.evaluate(ARM_CLICK)
    # The mouse directly: a locator's click first runs actionability checks (0.5-0.9 s here).
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    seen = 0
    while True:
        # Waiting in the page for the next frame, rather than screenshotting in a loop, leaves the
        # two cores to the server and the page's drawing.
        page.wait_for_function(MORE_FRAMES_OR_ERROR, arg=seen, timeout=60_000)
        if state(page, "error"):
            raise RuntimeError(f"the app refused the click: {state(page, 'error')}")
        changed = np.abs(grey_pixels(page, axial, xy, HALF_PX) - before).mean() > CHANGED
        frames = page.evaluate("() => window.__bench.frames")  # read after the screenshot: a frame
        seen = len(frames)  # that loaded meanwhile is the one the lesion is credited to
        if changed:
            break
    wait_until(page, f"s('result_id') > {previous} && !s('busy')", timeout_s=300)
    down, idle = page.evaluate("() => [window.__bench.down, performance.now()]")
    return {"click_to_overlay_s": (frames[-1] - down) / 1000, "click_to_idle_s": (idle - down) / 1000,
            "server_generation_s": state(page, "last_duration_s")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, choices=(1, 2), default=1, help="default brain voxel size (mm)")
    parser.add_argument("--runs", type=int, default=7, help="timed clicks (>= 5; at most 8)")
    parser.add_argument("--screenshot", type=Path, help="save the page after the last run (the README's image)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server_args = ["--resolution", str(args.resolution), "--data", f"{folder}/data"]
        with app_server(server_args, Path(folder) / "server.log") as (url, _), chromium_page() as page:
            started = time.perf_counter()
            page.goto(url)
            wait_idle(page, timeout_s=300)
            ready_s = time.perf_counter() - started
            axial = view_area(page, 0)
            page.evaluate(RECORD_FRAMES, axial.locator("img.image-display-area").element_handle())
            first = click_to_overlay(page, axial, CLICKS[0])
            runs = [click_to_overlay(page, axial, fraction) for fraction in CLICKS[1: args.runs + 1]]
            if args.screenshot:
                page.wait_for_timeout(1000)
                page.screenshot(path=str(args.screenshot))
    medians = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
    print(json.dumps({
        "resolution_mm": args.resolution,
        "runs": len(runs),
        "median": medians,
        "all_click_to_overlay_s": [round(run["click_to_overlay_s"], 3) for run in runs],
        "first_click_s": {key: round(value, 3) for key, value in first.items()},
        "page_ready_s": round(ready_s, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
