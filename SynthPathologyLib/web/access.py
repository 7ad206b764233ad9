"""Who may use a running app: a random access token per server run, checked on every HTTP request
and on the websocket, with the ``Host`` and ``Origin`` headers.

A page must be opened through the link the server prints (``http://HOST:PORT/?secret=TOKEN``):
trame's page reads ``secret`` from its address, then removes it from the address bar. The first
request that carries the token gets it back as an HttpOnly, SameSite=Strict cookie (named after
the port, as cookies do not tell ports apart), so the page's scripts, styles and websocket carry it
without the token in their URLs. A request without a valid token, with a ``Host`` the server does
not answer to (DNS rebinding), or with an ``Origin`` other than its own host (another web site's
page, even one open in the same browser) is refused with 403 before any handler runs.

The wslink "hello" of a websocket is accepted only on a connection whose upgrade request passed
these checks: trame's page sends a fixed default secret when reloaded without the token in its
address, so the secret in the hello cannot be the gate.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from wslink.websocket import LinkProtocol

logger = logging.getLogger(__name__)

TOKEN_PARAMETER = "secret"
"""The link's query parameter: the name trame's page reads its wslink secret from."""

TOKEN_ENVIRONMENT = "SYNTHPATHOLOGY_APP_TOKEN"
"""Environment variable a supervising process hands a child server's token in (never argv: other
users can read a command line)."""

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_AUTHENTICATED = web.AppKey("synthpathology_authenticated", set)


def new_token() -> str:
    """A fresh random token (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Access:
    """The access rules of one server run.

    Attributes:
        host, port: where the server listens.
        token: the secret every request must carry (query ``secret`` or the cookie).
        identity: who the token stands for ("user", or a reader id), for logs and messages.
        clients: websocket client ids whose upgrade request passed the checks.
    """

    host: str
    port: int
    token: str = field(default_factory=new_token, repr=False)
    identity: str = "user"
    clients: set[str] = field(default_factory=set, repr=False)

    @property
    def cookie_name(self) -> str:
        return f"synthpathology-{self.port}"

    def public_host(self) -> str:
        """The host name to print in links: the bind address, or this machine's name for a wildcard."""
        if self.host in ("0.0.0.0", "::", ""):
            return socket.getfqdn()
        return f"[{self.host}]" if ":" in self.host else self.host

    def link(self) -> str:
        return f"http://{self.public_host()}:{self.port}/?{TOKEN_PARAMETER}={self.token}"

    def token_matches(self, candidate: object) -> bool:
        return isinstance(candidate, str) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def host_allowed(self, host_header: str) -> bool:
        """The ``Host`` header names this server: a loopback name when bound to loopback, the bound
        address otherwise; any name for a wildcard bind (the token is the gate there)."""
        name, _, port = host_header.rpartition(":") if not host_header.endswith("]") else (host_header, "", "")
        if port and port != str(self.port):
            return False
        name = name or host_header
        if is_loopback(self.host):
            return name in _LOOPBACK_NAMES
        if self.host in ("0.0.0.0", "::", ""):
            return bool(name)
        return name.strip("[]") == self.host.strip("[]")

    def refusal(self, request: web.BaseRequest) -> str | None:
        """Why ``request`` is refused, or None when it may go on."""
        host = request.headers.get("Host", "")
        if not self.host_allowed(host):
            return f"unknown host {host!r}"
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != host:
            return f"cross-origin request from {origin!r}"
        if not (self.token_matches(request.query.get(TOKEN_PARAMETER))
                or self.token_matches(request.cookies.get(self.cookie_name))):
            return "no valid access token"
        return None


def access_middleware(access: Access):
    """aiohttp middleware enforcing :meth:`Access.refusal` on every request (pages, files, websocket)."""

    @web.middleware
    async def check(request: web.Request, handler):
        refusal = access.refusal(request)
        if refusal is not None:
            logger.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, refusal)
            return web.Response(status=403, text="Forbidden: open the app through the link its server printed "
                                                 "(it holds the access token).\n")
        request[_AUTHENTICATED] = True
        response = await handler(request)
        if request.query.get(TOKEN_PARAMETER) and not response.prepared:
            response.set_cookie(access.cookie_name, access.token, httponly=True, samesite="Strict", path="/")
        return response

    return check


class TokenProtocol(LinkProtocol):
    """A wslink link protocol whose ``validateToken`` replaces the shared default secret: the hello
    succeeds only on connections that passed :func:`access_middleware`."""

    def __init__(self, access: Access):
        super().__init__()
        self.access = access

    def onConnect(self, request, client_id: str) -> None:  # noqa: N802 - wslink's name
        if request.get(_AUTHENTICATED):
            self.access.clients.add(client_id)

    def onClose(self, client_id: str) -> None:  # noqa: N802
        self.access.clients.discard(client_id)

    async def validateToken(self, _token, client_id: str) -> bool:  # noqa: N802
        return client_id in self.access.clients


async def _session_endpoint(request: web.Request) -> web.Response:
    """trame's page first asks a session launcher (POST ``/paraview/``) where its websocket is, and
    falls back to ``/ws`` after an error, which the browser logs: answer it instead."""
    return web.json_response({"sessionURL": f"{'wss' if request.secure else 'ws'}://USE_HOST/ws"})


def install_access(server, access: Access) -> None:
    """Make ``server`` (a trame server, not started yet) enforce ``access``."""
    server.add_protocol_to_configure(lambda protocol: protocol.registerLinkProtocol(TokenProtocol(access)))

    def bind(web_server, **_) -> None:
        web_server.app.middlewares.append(access_middleware(access))
        web_server.app.router.add_post("/paraview/", _session_endpoint)

    server.controller.on_server_bind.add(bind)
