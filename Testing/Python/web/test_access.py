"""Who may use a running app, tried as an attacker would: plain HTTP requests and a raw wslink client
(no browser) against a real ``synthpathology app --reading`` server. Without the printed link's
token, from another host name or another site's page, nothing is served; with it, the page may set
only whitelisted state to valid values and cannot run the server's life-cycle hooks or stop it."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import aiohttp
import pytest
from helpers.turing import make_package
from helpers.web import WslinkClient, WslinkError, app_server, separate_servers

from SynthPathologyLib.turing.errors import ReaderBusyError
from SynthPathologyLib.turing.journal import open_journal_writer, read_journal
from SynthPathologyLib.turing.study_package import open_package


@pytest.fixture(scope="module")
def reading_server(tmp_path_factory):
    """(link with token, package folder, process) of a reading server for reader r1."""
    root = tmp_path_factory.mktemp("web_access")
    package, _key = make_package(root, n_real=2, n_synthetic=2, readers=("r1",))
    with app_server(["--reading", str(package), "--reader", "r1"], root / "server.log") as (link, process):
        yield link, package, process


def _bare(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}/"


def _get(url: str, **kwargs) -> tuple[int, str, dict]:
    async def go():  # an unsafe jar: aiohttp's default keeps no cookies of IP hosts
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session, session.get(url, **kwargs) as response:
            return response.status, await response.text(), {c.key: c.value for c in session.cookie_jar}

    return asyncio.run(go())


def test_every_http_route_needs_the_token(reading_server):
    link, _, _ = reading_server
    bare = _bare(link)
    assert re.search(r"\?secret=[\w-]{20,}$", link), "the printed link carries a random token"
    for path in ("", "index.html", "vue.global.js", "loading.tpl"):
        assert _get(bare + path)[0] == 403, path
    assert _get(bare + "?secret=not-the-token")[0] == 403

    status, page, cookies = _get(link)
    assert status == 200 and "<div id=\"app\">" in page
    port = urlsplit(link).port
    assert list(cookies) == [f"synthpathology-{port}"], "the token comes back as a cookie for the page's files"
    assert _get(bare + "vue.global.js", cookies=cookies)[0] == 200


def test_other_hosts_and_other_sites_are_refused(reading_server):
    link, _, _ = reading_server
    port = urlsplit(link).port
    assert _get(link, headers={"Host": f"attacker.example:{port}"})[0] == 403  # DNS rebinding
    assert _get(link, headers={"Origin": "http://attacker.example"})[0] == 403
    assert _get(link, headers={"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"})[0] == 200


def test_the_websocket_needs_the_token_and_its_own_origin(reading_server):
    link, _, _ = reading_server

    async def refused(url, headers=None):
        with pytest.raises(aiohttp.WSServerHandshakeError) as error:
            async with WslinkClient(url, headers):
                pass
        return error.value.status

    async def scenario():
        assert await refused(_bare(link)) == 403
        assert await refused(link, {"Origin": "http://attacker.example"}) == 403
        async with WslinkClient(link) as client:
            assert (await client.hello())["clientID"]  # trame's page sends its fixed default secret
            assert (await client.get_state())["reader"] == "r1"

    asyncio.run(scenario())


def _submit_trigger(template: str) -> str:
    """The trigger name of the Submit button, from the page's template."""
    return re.search(r"trigger\('(\w+)', \[\{reading_position", template).group(1)


def test_state_is_whitelisted_and_checked(reading_server):
    link, package, _ = reading_server

    async def scenario():
        async with WslinkClient(link) as client:
            await client.hello()
            before = await client.get_state()
            await client.set_state(trame__template_main="<img src=x onerror=alert(1)>", reader="intruder")
            await client.set_state(answer_confidence=2.7)
            after = await client.get_state()
            assert after["trame__template_main"] == before["trame__template_main"]
            assert after["reader"] == "r1" and after["answer_confidence"] is None
            assert "Confidence must be a whole number from 1 to 5, got 2.7" in after["error"]

            trigger = _submit_trigger(after["trame__template_main"])
            shown = {"reading_position": after["reading_position"], "answer_label": "real",
                     "answer_confidence": 2.7, "answer_realism": 3, "answer_comment": ""}
            await client.call("trame.trigger", [trigger, [shown], {}])
            for _ in range(50):
                if (await client.get_state())["error"] and not (await client.get_state())["busy"]:
                    break
                await asyncio.sleep(0.2)
            assert "Confidence must be a whole number" in (await client.get_state())["error"]

    asyncio.run(scenario())
    assert not read_journal(open_package(package), "r1").records, "2.7 is not stored as 2"


def test_a_client_cannot_run_life_cycle_hooks_or_stop_the_server(reading_server):
    link, package, process = reading_server

    async def scenario():
        async with WslinkClient(link) as client:
            await client.hello()
            await client.call("trame.lifecycle.update", ["server_exited"])
            await client.call("trame.lifecycle.update", ["server_ready"])
            await client.call("application.exit")
            await asyncio.sleep(1)
            assert (await client.get_state())["reader"] == "r1"

    asyncio.run(scenario())
    assert process.poll() is None, "the server keeps serving"
    with pytest.raises(ReaderBusyError):  # the reader's session (and lock) is still open
        open_journal_writer(open_package(package), "r1")


def test_an_unauthenticated_wslink_call_is_not_run(reading_server):
    link, _, _ = reading_server

    async def scenario():
        async with WslinkClient(link) as client:  # the upgrade carried the token, but no hello yet
            with pytest.raises(WslinkError, match="Unauthorized"):
                await client.get_state()

    asyncio.run(scenario())


def test_each_reader_of_a_study_gets_an_own_server_and_link(tmp_path):
    """``--readers r1,r2``: one link per reader; a reader's token opens only their own server,
    which reads as them only."""
    package, _key = make_package(tmp_path, n_real=1, n_synthetic=1, readers=("r1", "r2"))
    with separate_servers(["--reading", str(package)], "reader", ["r1", "r2"], tmp_path / "study.log") as (links, _):
        r1, r2 = links["r1"], links["r2"]
        assert urlsplit(r2).port == urlsplit(r1).port + 1
        assert _get(_bare(r2) + "?" + urlsplit(r1).query)[0] == 403, "r1's token does not open r2's server"

        async def reader_of(link):
            async with WslinkClient(link) as client:
                await client.hello()
                return (await client.get_state())["reader"]

        assert [asyncio.run(reader_of(link)) for link in (r1, r2)] == ["r1", "r2"]
