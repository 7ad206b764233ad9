"""What a page may change on the server: a whitelist of state names with their types and ranges, and
the wslink methods a client may call.

trame lets any client set any state name (``trame__template_main`` is the page's own template:
setting it injects script into every visitor's page) and call the server's life-cycle hooks
(``trame.lifecycle.update("server_exited")`` runs the close hooks while the server keeps serving),
and wslink lets it stop the server (``application.exit``). :func:`install_guard` replaces these
entries of wslink's method table when the server binds: a state change is applied only for a
whitelisted name with a valid value; a bad value is refused with a message in the page (and the
page gets the server's value back); an unknown name is ignored and logged; only the page's own
life-cycle notices are passed on; the exit methods do nothing.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..core.errors import SynthPathologyError

logger = logging.getLogger(__name__)

CLIENT_LIFECYCLE = ("client_connected", "client_exited", "client_unmounted")
"""Life-cycle notices trame's page sends; every other ``trame.lifecycle.update`` is refused."""

REFUSED_METHODS = ("application.exit", "application.exit.later")
"""wslink methods a page never needs: a client must not stop the server."""

_INTEGER = re.compile(r"^[+-]?\d{1,12}$")
MAX_LISTED_CHOICES = 6


class StateRefused(SynthPathologyError):
    """A page sent a value the server does not accept (the message says which and why)."""


@dataclass(frozen=True)
class Field:
    """One client-settable state name.

    Attributes:
        label: what the page calls it, for messages ("Edema (mm)").
        kind: bool, int, float or str. Numbers may arrive as text (a number field's value);
            an int must be whole (2.7 is refused, not rounded).
        low, high: inclusive range of a number.
        choices: the allowed values, or a function of nothing returning them (they may depend on
            the case shown).
        nullable: None is allowed (a form not filled in yet).
        max_chars: longest text.
    """

    label: str
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple | Callable[[], Iterable] | None = None
    nullable: bool = False
    max_chars: int = 2000

    def check(self, value: object) -> object:
        """``value`` as the server stores it; :class:`StateRefused` says why it is not accepted."""
        if value is None and self.nullable:
            return None
        if self.kind is bool:
            if not isinstance(value, bool):
                raise self._refuse(value, "must be on or off")
            return value
        if self.kind in (int, float):
            return self._number(value)
        if not isinstance(value, str) or len(value) > self.max_chars:
            raise self._refuse(value, f"must be text of at most {self.max_chars} characters")
        if self.choices is not None and value not in self._choices():
            raise self._refuse(value, f"must be one of {_listed(self._choices())}")
        return value

    def _choices(self) -> tuple:
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def _number(self, value: object) -> int | float:
        whole = self.kind is int
        expected = (f"{'a whole number' if whole else 'a number'} from {_plain(self.low)} to {_plain(self.high)}")
        number = value
        if isinstance(value, str):
            text = value.strip()
            try:
                number = int(text) if whole and _INTEGER.match(text) else float("nan") if whole else float(text)
            except ValueError:
                number = float("nan")
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                or (whole and number != int(number)) or not self.low <= number <= self.high:
            raise self._refuse(value, f"must be {expected}")
        return int(number) if whole else float(number)

    def _refuse(self, value: object, why: str) -> StateRefused:
        shown = repr(value) if not isinstance(value, str) or len(value) < 40 else repr(value[:37] + "...")
        return StateRefused(f"{self.label} {why}, got {shown}")


def _listed(choices: tuple, shown: int = MAX_LISTED_CHOICES) -> str:
    """``choices`` for a one-line message: the first ``shown`` of a long list (a label library may
    hold hundreds of files), and how many there are."""
    listed = ", ".join(map(str, choices[:shown]))
    return listed if len(choices) <= shown else f"{listed}... ({len(choices)} in all)"


def _plain(number: float) -> str:
    """A bound as the page would write it: 2147483647, 0.9, 30."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


Schema = Mapping[str, Field]

PAGE_FIELDS = {
    "error": Field("The error banner", str, choices=("",)),  # closing it clears it
    "trame__busy": Field("Busy", int, 0, 10**6),  # trame's page counts its pending requests
}
"""Names every mode's page sets."""


def checked_changes(schema: Schema, changes: Mapping[str, object]) -> tuple[dict, list[str], list[str]]:
    """Split a page's changes: (accepted name -> stored value, refusal messages, ignored names)."""
    accepted, refused, ignored = {}, [], []
    for name, value in changes.items():
        field = schema.get(name)
        if field is None:
            ignored.append(name)
            continue
        try:
            accepted[name] = field.check(value)
        except StateRefused as exc:
            refused.append(str(exc))
    return accepted, refused, ignored


def take_checked(state, schema: Schema, changes: Mapping[str, object]) -> None:
    """Apply ``changes`` (what a page sent with a click) to ``state``; raise :class:`StateRefused`
    naming every refused value, after applying none of them."""
    if not isinstance(changes, Mapping):
        raise StateRefused("the page sent no settings with the click")
    accepted, refused, ignored = checked_changes(schema, changes)
    if ignored:
        logger.warning("ignored state names a page sent with a click: %s", ", ".join(map(repr, ignored)))
    if refused:
        raise StateRefused("; ".join(refused))
    with state:
        state.update(accepted)


class _Guard:
    """The replacement wslink methods: bound to one server and its schema."""

    def __init__(self, server, schema: Schema, show_error: Callable[[str], None]):
        self.server = server
        self.schema = schema
        self.show_error = show_error

    def update_state(self, changes) -> None:
        """``trame.state.update``: trame's own handler, for accepted changes only."""
        pairs = {change.get("key"): change.get("value") for change in changes if isinstance(change, dict)} \
            if isinstance(changes, list) else {}
        accepted, refused, ignored = checked_changes(self.schema, pairs)
        if ignored:
            logger.warning("ignored state a client tried to set: %s", ", ".join(map(repr, ignored)))
        protocol = self.server.protocol
        with self.server.state:
            if accepted:
                # To every page, the sender's too: trame skips "the last active client" when the
                # message goes out, later, by which time that may be another page, which then
                # never gets the change (seen with 5 pages clicking at once).
                protocol.push_state_change(accepted)
                self.server.state.update(accepted)
        rejected = [name for name in pairs if name not in accepted and self.server.state.has(name)]
        if rejected:
            self.server.force_state_push(*rejected)  # the page holds what it set: send it the server's value
        if refused:
            self.show_error("; ".join(refused))

    def lifecycle(self, name) -> None:
        if name not in CLIENT_LIFECYCLE:
            logger.warning("refused a client's life-cycle update %r", name)
            return
        hook = self.server.controller[f"on_{name}"]
        if hook.exists():
            hook()

    def refused_method(self, *args, **kwargs) -> None:
        logger.warning("refused a client's call of a server-control method")


def install_guard(server, schema: Schema, show_error: Callable[[str], None], *,
                  max_message_bytes: int | None = None) -> None:
    """Replace wslink's state, life-cycle and exit methods of ``server`` (before it starts) by the
    checked ones; cap a websocket message at ``max_message_bytes`` (wslink allows 4 GB once a
    client is authenticated, allocated from the size a message's first frame announces)."""
    guard = _Guard(server, schema, show_error)

    def bind(web_server, **_) -> None:
        # wslink keeps its method table on each websocket handler; trame offers no other way in.
        for handler in web_server._ws_handlers:
            handler.functionMap["trame.state.update"] = (guard, _Guard.update_state)
            handler.functionMap["trame.lifecycle.update"] = (guard, _Guard.lifecycle)
            for method in REFUSED_METHODS:
                handler.functionMap[method] = (guard, _Guard.refused_method)
            if max_message_bytes is not None:
                _cap_messages(handler, max_message_bytes)

    server.controller.on_server_bind.add(bind)


def _cap_messages(handler, max_bytes: int) -> None:
    """Keep each client's message reassembly (wslink's UnChunker) under ``max_bytes``."""
    connect = handler.onConnect

    async def on_connect(request, client_id):
        await connect(request, client_id)
        unchunker = handler.unchunkers[client_id]
        unchunker.set_max_message_size = lambda size: setattr(unchunker, "max_message_size", min(size, max_bytes))

    handler.onConnect = on_connect
