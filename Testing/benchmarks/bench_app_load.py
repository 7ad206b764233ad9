"""Load on ``synthpathology app`` over loopback: several chromium pages clicking at once, and repeated
uploads of a 1 mm case. Prints JSON.

Part 1 (``--clients``, default 5, for ``--seconds``, default 60): each page of one headless chromium
opens the app's link; in turn, a page clicks a random point inside the brain in the axial view
(generate on click) or moves a slider. Every second a page sets the random seed to a new value
(a text field: no slider rounding) and the time until every other page shows it is the state
latency (set -> server -> other pages; playwright's own overhead included, so an upper bound).
Reports: errors seen (page error banner, console errors, page crashes, lost state changes), the
server's resident memory (sampled every 2 s, with the slope of its second half) and latency
median and p95.

Part 2 (``--uploads``, default 8): a raw wslink client uploads the same BraTS case (default: the
real ``TCGA-DU-7294`` of ``/work/shared/realdata``, 1 mm, 240 x 240 x 155; The Cancer Genome
Atlas via TCIA, CC BY 3.0, preprocessed with BraTS Toolkit) again and again; the server's memory
after each upload shows whether a closed case's memory comes back.

Loopback only; the server is started here and stopped at the end:
    python3 Testing/benchmarks/bench_app_load.py [--clients 5] [--seconds 60] [--uploads 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "Testing" / "Python"))

from helpers.web import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, WslinkClient, app_server, run_async, wait_idle, wait_until  # noqa: E402

DEFAULT_CASE = Path("/work/shared/realdata/glioma/TCGA-DU-7294")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def second_half_slope(samples: list[float], every_s: float) -> float | None:
    """MB per minute of a least-squares line through the second half of the samples (after the
    model, the prepared case and the first buffers are in)."""
    half = samples[len(samples) // 2:]
    if len(half) < 3:
        return None
    import numpy as np

    return round(float(np.polyfit(np.arange(len(half)) * every_s / 60, half, 1)[0]), 1)


def brain_click(page) -> dict:
    """A random point in the middle half of the axial view (the brain fills it)."""
    box = page.locator("img.image-display-area").nth(0).bounding_box()
    return {"x": box["width"] * random.uniform(0.35, 0.65), "y": box["height"] * random.uniform(0.35, 0.65)}


def clicking_clients(link: str, pid: int, n_clients: int, seconds: float) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    latencies, memory = [], [resident_mb(pid)]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = []
        for index in range(n_clients):
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.on("console", lambda m, i=index: m.type == "error" and errors.append(f"page {i} console: {m.text}"))
            page.on("crash", lambda _, i=index: errors.append(f"page {i} crashed"))
            page.goto(link)
            pages.append(page)
        for page in pages:
            wait_idle(page, 300)
        started = last_sample = last_probe = time.monotonic()
        turn = 0
        while time.monotonic() - started < seconds:
            page = pages[turn % n_clients]
            turn += 1
            if turn % 3:
                page.locator("img.image-display-area").nth(0).click(position=brain_click(page))
            else:
                page.evaluate(f"() => window.trame.state.set('edema_mm', {random.randint(0, 20)})")
            if time.monotonic() - last_probe >= 1.0:
                value = 1000 + len(latencies)  # a new random seed each time (a text field: no rounding)
                setter, others = page, [p for p in pages if p is not page]
                probe_start = time.perf_counter()
                setter.evaluate(f"() => window.trame.state.set('random_seed', {value})")
                try:
                    for other in others:
                        wait_until(other, f"s('random_seed') == {value}", 30)
                    latencies.append(time.perf_counter() - probe_start)
                except PlaywrightTimeout:
                    seen = [other.evaluate("() => window.trame.state.get('random_seed')") for other in others]
                    errors.append(f"random seed {value} set in page {pages.index(setter)} not seen in 30 s: {seen}")
                last_probe = time.monotonic()
            if time.monotonic() - last_sample >= 2.0:
                memory.append(resident_mb(pid))
                last_sample = time.monotonic()
            message = page.evaluate("() => window.trame.state.get('error')")
            if message:
                errors.append(f"page error: {message}")
                page.evaluate("() => window.trame.state.set('error', '')")
            page.wait_for_timeout(100)
        for page in pages:
            wait_until(page, "!s('busy')", 120)
        browser.close()
    return {
        "clients": n_clients, "seconds": seconds, "actions": turn, "errors": errors,
        "memory_mb": {"first": round(memory[0]), "last": round(memory[-1]), "peak": round(max(memory)),
                      "samples_every_2s": [round(m) for m in memory],
                      "second_half_slope_mb_per_min": second_half_slope(memory, 2.0)},
        "state_latency_s": {"n": len(latencies), "median": round(statistics.median(latencies), 3),
                            "p95": round(percentile(latencies, 95), 3)} if latencies else None,
    }


async def upload_case(link: str, files: list[tuple[str, bytes]]) -> str:
    """Upload one case as the page does (announce, groups of files, end), wait until it is shown."""
    async with WslinkClient(link) as client:
        await client.hello()
        refusal = await client.call("trame.trigger", ["upload_check", [[{"name": n, "size": len(b)} for n, b in files]],
                                                      {}])
        if refusal:
            return refusal
        for name, content in files:
            await client.call("trame.trigger", ["upload_chunk", [[{"name": name, "size": len(content),
                                                                   "content": content}]], {}])
        await client.call("trame.trigger", ["upload_chunk", [[]], {}])
        for _ in range(600):
            await asyncio.sleep(0.5)
            state = await client.get_state()
            if not state["busy"]:
                return state["error"]
    return "timed out"


def repeated_uploads(link: str, pid: int, case: Path, n_uploads: int) -> dict:
    files = [(path.name, path.read_bytes()) for path in sorted(case.iterdir()) if path.name.endswith(".nii.gz")]
    memory, errors = [round(resident_mb(pid))], []
    for _ in range(n_uploads):
        error = run_async(upload_case(link, files))
        if error:
            errors.append(error)
        time.sleep(3)  # the background preparation of the shown case
        memory.append(round(resident_mb(pid)))
    growth = [b - a for a, b in zip(memory[2:], memory[3:])]  # after the first uploads have warmed up
    return {"uploads": n_uploads, "case": case.name, "errors": errors, "memory_mb_after_each": memory,
            "median_growth_mb_per_upload_after_2": statistics.median(growth) if growth else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="BraTS case folder to upload")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with app_server(["--resolution", "2"], log) as (link, process):
            result = {}
            if args.clients:
                result["clicking"] = clicking_clients(link, process.pid, args.clients, args.seconds)
            if args.uploads:
                result["uploads"] = repeated_uploads(link, process.pid, args.case, args.uploads)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
