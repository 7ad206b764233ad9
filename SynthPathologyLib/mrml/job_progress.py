"""A :class:`~.jobs.SceneJob` followed in a module panel: a timer polls the job on the main thread
(where the job applies each finished step to the scene), a progress bar and a status line follow
it, and Cancel stops it after the step in flight.

The module gives the timer and the widgets (a ``QTimer``, a ``QProgressBar``, a ``QLabel``, a
``QPushButton``); nothing here imports Qt, like the rest of the library.
"""

from __future__ import annotations

from collections.abc import Callable

from .jobs import SceneJob

POLL_INTERVAL_MS = 100  # progress stays live while the GUI stays idle


class JobProgress:
    """Runs one job at a time and shows it in ``progress_bar``, ``status_label`` and
    ``cancel_button``. Once the job has ended the status line says how (its error line if it
    failed) and ``on_finished(job)`` is called on the main thread (results, error box);
    ``on_change()`` is called whenever a job starts or ends (to enable buttons)."""

    def __init__(self, timer, progress_bar, status_label, cancel_button,
                 on_finished: Callable[[SceneJob], None], on_change: Callable[[], None]):
        self.job: SceneJob | None = None
        self._timer, self._bar, self._status, self._cancel = timer, progress_bar, status_label, cancel_button
        self._on_finished, self._on_change = on_finished, on_change
        timer.setInterval(POLL_INTERVAL_MS)
        timer.connect("timeout()", self._poll)
        cancel_button.connect("clicked(bool)", self.cancel)
        self._bar.visible = self._cancel.visible = False

    @property
    def idle(self) -> bool:
        return self.job is None

    def start(self, job: SceneJob) -> None:
        """Start ``job`` in its worker thread and follow it."""
        job.start()
        self.job = job
        self._bar.maximum = job.total if job.total > 1 else 0  # 0: a busy indicator
        self._bar.value = 0
        self._cancel.visible = job.total > 1  # the step in flight cannot be interrupted
        self._bar.visible = True
        self._status.text = f"{job.title}…"
        self._timer.start()
        self._on_change()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._status.text = f"{self.job.title}: stopping after the current step…"

    def stop(self) -> None:
        """Stop following the job (a running one is cancelled, its results dropped): on scene
        close and module cleanup, so no result reaches the next scene."""
        self._timer.stop()
        if self.job is not None:
            self.job.cancel()
        self.job = None
        self._bar.visible = self._cancel.visible = False
        self._on_change()

    def _poll(self) -> None:
        job = self.job
        job.poll()
        self._bar.value = job.done
        if job.finished:
            self.stop()
            self._status.text = job.error or f"{job.title}: {job.state.value}"
            self._on_finished(job)
