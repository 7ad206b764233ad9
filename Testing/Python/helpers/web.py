"""Running ``synthpathology app`` for browser tests: a server subprocess on a free port, Debian's
chromium driven by playwright, and a raw wslink client (what an attacker's script would use).

Chromium missing is a failure, not a skip: ``Testing/install_browser.sh`` installs it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}
STARTUP_TIMEOUT_S = 240  # imports torch, MONAI, VTK and MRML: slow on a busy 2-core machine
REPOSITORY = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LINK = re.compile(r"open (http://\S+) in a browser")


def printed_link(log_path: Path) -> str:
    """The link (with its access token) the server printed."""
    found = LINK.search(log_path.read_text(errors="replace"))
    if found is None:
        pytest.fail(f"the app printed no link:\n{log_path.read_text(errors='replace')[-3000:]}")
    return found.group(1)


@contextmanager
def app_server(args: list[str], log_path: Path):
    """Start ``synthpathology app ARGS --port P`` and yield (its link with the access token, the
    process) once it accepts connections; stop it (SIGINT, then kill) afterwards. Fails with the
    server's log if it exits early."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "SynthPathologyLib", "app", *args, "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"app did not start (exit {process.poll()}):\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield printed_link(log_path), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def separate_servers(args: list[str], kind: str, ids: list[str], log_path: Path):
    """Start ``synthpathology app ARGS --KINDs A,B --port P`` (one server per id) and yield (the
    links it printed, id -> link with its token; the process) once every server accepts
    connections; stop them all (SIGINT) afterwards and check they stopped cleanly."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "SynthPathologyLib", "app", *args, f"--{kind}s",
                                    ",".join(ids), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            links = dict(re.findall(rf"{kind} (\S+): (http://\S+)", log_path.read_text(errors="replace")))
            if len(links) == len(ids) and all(_accepts(urlsplit(link).port) for link in links.values()):
                break
            time.sleep(1)
        yield links, process
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0, log_path.read_text(errors="replace")[-3000:]


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def chromium_page():
    """A page in headless Debian chromium (fails when chromium is not installed)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run Testing/install_browser.sh")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # the page renders slowly while the server is busy

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        finally:
            browser.close()


def state(page, name: str):
    """A value of the app's trame state, as the page holds it."""
    return page.evaluate("name => window.trame.state.get(name)", name)


def wait_until(page, condition: str, timeout_s: float = 120) -> None:
    """Wait until the JavaScript ``condition`` on ``s`` (the trame state getter) holds."""
    page.wait_for_function(
        f"() => {{ const s = n => window.trame && window.trame.state && window.trame.state.get(n); return {condition}; }}",
        timeout=timeout_s * 1000,
    )


def wait_idle(page, timeout_s: float = 180) -> None:
    """Wait until the page shows its four views, the app has a case (or reading case) and no work
    runs."""
    wait_until(page, "document.querySelectorAll('img.image-display-area').length === 4"
                     " && (s('case_id') || s('progress_text')) && !s('busy')", timeout_s)


def view_area(page, index: int):
    """The element of the index-th view (0 axial, 1 coronal, 2 sagittal, 3 3D): the image's
    container, whose size is the render window's."""
    return page.locator("img.image-display-area").nth(index).locator("xpath=..")


def grey_pixels(page, element, center_xy: tuple[float, float], half_px: int):
    """Grey values (0-255) of a (2 half + 1)^2 pixel screenshot of ``element`` around
    ``center_xy`` (pixels from the element's top-left)."""
    from io import BytesIO

    from PIL import Image

    box = element.bounding_box()
    clip = {"x": box["x"] + center_xy[0] - half_px, "y": box["y"] + center_xy[1] - half_px,
            "width": 2 * half_px + 1, "height": 2 * half_px + 1}
    return np.asarray(Image.open(BytesIO(page.screenshot(clip=clip))).convert("L"), dtype=float)


def run_async(coroutine) -> object:
    """Run ``coroutine`` to its end on a fresh event loop in another thread (playwright's sync API
    holds a loop in this one)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class WslinkError(Exception):
    """An error answer of the server to a wslink call."""


class WslinkClient:
    """A plain wslink client over aiohttp: msgpack messages in wslink's chunk framing, as trame's
    page sends them, without a browser (use inside ``async with``)."""

    def __init__(self, url: str, headers: dict | None = None):
        import aiohttp

        self._url = url.replace("http://", "ws://", 1).split("?")[0].rstrip("/") + "/ws" + \
            ("?" + url.split("?", 1)[1] if "?" in url else "")
        self._headers = headers or {}
        self._session = aiohttp.ClientSession()
        self._ids = 0
        self.published: list[dict] = []

    async def __aenter__(self) -> WslinkClient:
        from wslink.chunking import UnChunker

        try:
            self._ws = await self._session.ws_connect(self._url, headers=self._headers)
        except BaseException:
            await self._session.close()
            raise
        self._unchunker = UnChunker()
        self._unchunker.set_max_message_size(1 << 30)
        return self

    async def __aexit__(self, *_) -> None:
        await self._ws.close()
        await self._session.close()

    async def call(self, method: str, args: list | None = None, timeout_s: float = 30) -> object:
        import msgpack
        from wslink.chunking import generate_chunks

        self._ids += 1
        rpc_id = f"system:c0:{self._ids}" if method == "wslink.hello" else f"rpc:c0:{self._ids}"
        message = msgpack.packb({"wslink": "1.0", "id": rpc_id, "method": method, "args": args or [], "kwargs": {}})
        for chunk in generate_chunks(message, 4_000_000):
            await self._ws.send_bytes(chunk)
        while True:
            received = await asyncio.wait_for(self._ws.receive(), timeout_s)
            if received.data is None or not isinstance(received.data, bytes):
                raise WslinkError(f"connection closed ({received.type})")
            reply = self._unchunker.process_chunk(received.data)
            if reply is None:
                continue
            if reply.get("id") != rpc_id:
                self.published.append(reply)
                continue
            if "error" in reply:
                raise WslinkError(reply["error"].get("message"))
            return reply.get("result")

    async def hello(self, secret: str = "wslink-secret") -> object:
        return await self.call("wslink.hello", [{"secret": secret}])

    async def set_state(self, **changes) -> None:
        await self.call("trame.state.update", [[{"key": k, "value": v} for k, v in changes.items()]])

    async def get_state(self) -> dict:
        return (await self.call("trame.state.get"))["state"]
