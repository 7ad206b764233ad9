"""Long scene work without freezing the GUI: a job of steps, each computed in a worker thread and
applied to the scene on the thread that polls the job.

MRML (and Qt) may only be touched on the main thread, so a :class:`Step` splits its work: the
``compute`` part (SimpleITK, torch, file writes) runs in the job's worker thread and never touches a
node; the ``apply`` part writes the result into the scene on the main thread. The Slicer module
polls a :class:`SceneJob` from a ``QTimer`` (as SlicerMONAIAuto3DSeg polls its background process),
shows its progress and lets the user cancel; scripts and tests call :meth:`SceneJob.wait`.

States: READY -> RUNNING -> DONE, or -> CANCELLING -> CANCELLED, or -> FAILED (from RUNNING or
CANCELLING). Cancelling lets the step in flight finish and be applied (torch cannot be
interrupted), then starts no further step: each saved case folder is complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from ..core.errors import SynthPathologyError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class JobState(Enum):
    READY = "ready"
    RUNNING = "running"
    CANCELLING = "cancelling"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINISHED = frozenset({JobState.DONE, JobState.CANCELLED, JobState.FAILED})


@dataclass(frozen=True)
class Step(Generic[T]):
    """One unit of scene work.

    Attributes:
        compute: the heavy part; runs in a worker thread, so it must not touch MRML or Qt (read the
            nodes when building the step instead).
        apply: takes ``compute``'s result into the scene on the polling thread; what it returns is
            the step's result.
    """

    compute: Callable[[], T]
    apply: Callable[[T], Any]

    def run(self) -> Any:
        """Both parts on the calling thread (scripts): the step's result."""
        return self.apply(self.compute())


class SceneJob:
    """Runs ``steps`` one after the other; build it, :meth:`start` it, then :meth:`poll` it from
    the main thread until :attr:`finished`.

    Args:
        title: what the job does, e.g. "Saving 3 variants" (starts the error line).
        steps: the steps, built on the main thread (they read the nodes they need).
        on_change: called on the polling thread with the job after every change of state or
            progress (progress bars).

    Attributes:
        state: the :class:`JobState`.
        done, total: steps applied so far, and in all.
        results: what the applied steps returned, in order.
        error: one line saying why the job failed ("" unless FAILED).
    """

    def __init__(self, title: str, steps: Sequence[Step], on_change: Callable[[SceneJob], None] | None = None):
        if not steps:
            raise SynthPathologyError(f"{title}: nothing to do")
        self.title = title
        self.state = JobState.READY
        self.done = 0
        self.total = len(steps)
        self.results: list = []
        self.error = ""
        self._steps = list(steps)
        self._on_change = on_change
        self._worker: ThreadPoolExecutor | None = None
        self._computing: Future | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def start(self) -> None:
        """Start computing the first step in a worker thread."""
        if self.state is not JobState.READY:
            raise SynthPathologyError(f"{self.title}: already started")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="SynthPathologyJob")
        self._set_state(JobState.RUNNING)
        self._compute_next()

    def cancel(self) -> None:
        """Stop after the step in flight (which is still applied); a job not started just ends."""
        if self.state is JobState.READY:
            self._set_state(JobState.CANCELLED)
        elif self.state is JobState.RUNNING:
            self._set_state(JobState.CANCELLING)

    def poll(self) -> JobState:
        """Apply the step the worker has finished, if any, and start the next: call it from the
        thread that owns the scene. Returns the state."""
        if self._computing is None or not self._computing.done():
            return self.state
        computing, self._computing = self._computing, None
        try:
            self.results.append(self._steps[self.done].apply(computing.result()))
        except Exception as exc:  # noqa: BLE001 - any failure ends the job with its error line
            self._fail(exc)
            return self.state
        self.done += 1
        self._changed()  # progress; the callback may cancel
        if self.done == self.total:
            self._set_state(JobState.DONE)
        elif self.state is JobState.CANCELLING:
            self._set_state(JobState.CANCELLED)
        else:
            self._compute_next()
        return self.state

    def wait(self, poll_s: float = 0.05) -> JobState:
        """Start the job if needed and poll it until it has finished (scripts, tests, self-tests).
        Returns the final state."""
        if self.state is JobState.READY:
            self.start()
        while not self.finished:
            time.sleep(poll_s)
            self.poll()
        return self.state

    def _compute_next(self) -> None:
        self._computing = self._worker.submit(self._steps[self.done].compute)

    def _fail(self, exc: Exception) -> None:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not isinstance(exc, SynthPathologyError):  # a bug, not a user error: keep the traceback, name the type
            logger.error("%s failed", self.title, exc_info=exc)
            reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
        self.error = f"{self.title} failed: {reason}"
        self._set_state(JobState.FAILED)

    def _set_state(self, state: JobState) -> None:
        self.state = state
        if (state in FINISHED or state is JobState.CANCELLING) and self._worker is not None:
            self._worker.shutdown(wait=False)  # the step in flight still completes; its thread then ends
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)
