"""Long work in the page: a busy indicator with a message while it runs, and errors shown in the
page (the server keeps running).

Work on the MRML scene must stay on the server's event loop (VTK is not thread-safe), so a task
first lets the "busy" state reach the browser, then runs. Page actions (buttons, triggers) start
their work with :func:`in_background`: trame calls them inside the state's context, whose changes
reach the browser only when the call returns, so awaiting the network there would wait forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

from trame_server.utils.asynchronous import create_task

from ..core.errors import SynthPathologyError

logger = logging.getLogger(__name__)


def in_background(action: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """A page action that starts the coroutine function ``action`` as a task and returns at once."""

    def start(*args, **kwargs) -> None:
        create_task(action(*args, **kwargs))

    return start


def click_with_state(action, names: tuple[str, ...]) -> tuple:
    """A button's ``click`` that calls ``action`` with one dict: ``names`` -> their values as the
    page shows them at the click. The page holds its latest state changes back while a request is
    pending and does not send them before a button's call, so the server's state may lag."""
    return action, "[{" + ", ".join(f"{name}: {name}" for name in names) + "}]"


def show_error(state, message: str) -> None:
    """Show ``message`` (one line) in the page's error banner."""
    with state:
        state.error = message


@asynccontextmanager
async def reported_task(server, message: str):
    """Run the body with ``busy`` set and ``busy_message`` shown; a user error
    (:class:`SynthPathologyError`) becomes the page's error line, any other exception is logged
    with its traceback and shown as an internal error. Nothing propagates: the server lives on."""
    state = server.state
    with state:
        state.busy = True
        state.busy_message = message
        state.error = ""
    await server.network_completion  # the browser sees "busy" before the loop is held
    try:
        yield
    except SynthPathologyError as exc:
        show_error(state, str(exc))
    except Exception as exc:  # noqa: BLE001 - the page must survive any failure
        logger.exception("%s failed", message)
        show_error(state, f"internal error while {message.lower().rstrip('.…')}: {exc}")
    finally:
        with state:
            state.busy = False
            state.busy_message = ""
