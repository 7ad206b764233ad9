"""Reading mode: a reader's Turing-test session in the page.

The cases come one by one in the reader's order from
:func:`~SynthPathologyLib.turing.open_session`; each is shown by
:func:`~SynthPathologyLib.mrml.reading.show_blinded_case` (anonymous node names, the package's
fixed window, the same views for every case), and each answer goes through
:meth:`Session.record <SynthPathologyLib.turing.session.Session.record>` into the reader's
crash-safe journal, the same one the command line and the Slicer module write.
"""

from __future__ import annotations

from trame.widgets import html
from trame.widgets import vuetify3 as v3

from ..mrml.reading import clear_reading_nodes, show_blinded_case, show_reading_contrast
from ..pathologies import contrast_title
from ..turing.errors import SessionError
from ..turing.journal import LABELS, MAX_COMMENT_CHARS, RATINGS
from .client_state import PAGE_FIELDS, Field, StateRefused
from .tasks import click_with_state, in_background, reported_task, show_error

ANSWER_DEFAULTS = {"answer_label": None, "answer_confidence": None, "answer_realism": None, "answer_comment": ""}
SUBMITTED = ("reading_position", *ANSWER_DEFAULTS)  # what Submit sends (see click_with_state)
ANSWER_FIELDS = {
    "answer_label": Field("The answer", str, choices=LABELS, nullable=True),
    "answer_confidence": Field("Confidence", int, RATINGS.start, RATINGS.stop - 1, nullable=True),
    "answer_realism": Field("Realism", int, RATINGS.start, RATINGS.stop - 1, nullable=True),
    "answer_comment": Field("The comment", str, max_chars=MAX_COMMENT_CHARS),
}


class ReadingWorkflow:
    """State and actions of reading mode around one open session (closed by :meth:`close` when the
    server stops, never by a page)."""

    def __init__(self, server, slicer_app, session):
        self.server = server
        self.state = server.state
        self.scene = slicer_app.scene
        self.slicer_app = slicer_app
        self.session = session
        self.case = None  # the case on screen: set only once it is shown
        contrasts = session.package.manifest.contrasts
        self.schema = {**ANSWER_FIELDS, "reading_contrast": Field("Contrast", str, choices=contrasts), **PAGE_FIELDS}
        self.state.update(ANSWER_DEFAULTS)
        self.state.update(reader=session.reader, progress_text="", reading_position=None, reading_done=False,
                          reading_contrast="",
                          reading_contrasts=[{"value": c, "title": contrast_title(c)} for c in contrasts])
        self.state.change("reading_contrast")(self._on_contrast)
        self.server.controller.submit_answer = in_background(self.submit)
        self.server.controller.on_server_ready.add_task(self._first_case)

    def close(self) -> None:
        self.session.close()

    async def _first_case(self, **_) -> None:
        await self.show_current()
        if self.session.warnings:  # a torn last journal line was repaired: the reader must know
            show_error(self.state, " ".join(self.session.warnings))

    async def show_current(self, **_) -> None:
        """Show the session's current case, or the end of the study."""
        async with reported_task(self.server, "Loading the case…"):
            progress = self.session.progress
            self.case = None
            if self.session.current is None:
                clear_reading_nodes(self.scene)
                with self.state:
                    self.state.update(reading_done=True, reading_position=None,
                                      progress_text=f"{progress.answered} / {progress.total}")
                return
            case = show_blinded_case(self.scene, self.session.package, self.session.current)
            with self.state:
                self.state.update(ANSWER_DEFAULTS)
                self.state.update(progress_text=f"{progress.position} / {progress.total}",
                                  reading_position=progress.position, reading_contrast=case.shown_contrast)
            self.case = case
            for slice_view in self.slicer_app.view_manager.get_slice_views():
                slice_view.schedule_render()

    def _on_contrast(self, reading_contrast, **_) -> None:
        if self.case is not None and reading_contrast and reading_contrast != self.case.shown_contrast:
            show_reading_contrast(self.scene, self.case, reading_contrast)

    async def submit(self, shown: dict) -> None:
        """Commit the answer the page showed when Submit was clicked (:data:`SUBMITTED`: the case's
        ``reading_position``, 1-based as in "2 / 40", and the form), then show the next case.

        Refused, with the reason in the page (the form stays as it is): a case not on screen (one
        that failed to load), a case already answered (in another tab), a value out of range, a
        failed save. The same answer sent twice for the case just answered (a double click) is
        committed once, without a message.
        """
        saved = False
        async with reported_task(self.server, "Saving the answer…"):
            if not isinstance(shown, dict):
                raise SessionError("the page sent no answer")
            answer = self._checked_answer(shown)
            if self._repeats_last_answer(shown.get("reading_position"), answer):
                return
            if self.case is None or self.case.case_id != self.session.current:
                raise SessionError("no case is on screen to answer; reload the page")
            position, current = shown.get("reading_position"), self.session.progress.position
            if position != current:
                done = isinstance(position, int) and position < current
                why = "was answered already (in another tab?)" if done else "is not on screen"
                raise SessionError(f"case {position} {why}; this answer was not recorded. Now showing case {current}")
            self.session.record(*answer)
            saved = True
        if saved:
            await self.show_current()

    def _checked_answer(self, shown: dict) -> tuple[str, int, int, str]:
        values = []
        for name in ANSWER_DEFAULTS:
            try:
                values.append(ANSWER_FIELDS[name].check(shown.get(name, ANSWER_DEFAULTS[name])))
            except StateRefused as exc:
                raise SessionError(f"{exc}; the answer was not recorded") from None
        if None in values:
            raise SessionError("choose real or synthetic, a confidence and a realism rating first")
        return tuple(values)

    def _repeats_last_answer(self, position: object, answer: tuple) -> bool:
        """Whether ``answer`` for ``position`` is exactly the answer just committed for that case."""
        order = self.session.order
        if not isinstance(position, int) or isinstance(position, bool) or not 1 <= position <= len(order):
            return False
        if position == self.session.progress.position:
            return False
        record = self.session.answers.get(order[position - 1])
        return record is not None and (record.label, record.confidence, record.realism, record.comment) == answer


def _rating(name: str, label: str, low_text: str, high_text: str) -> None:
    html.Div(f"{label} (1 {low_text} – 5 {high_text})", classes="text-caption mt-2")
    with v3.VBtnToggle(v_model=(name,), density="compact", divided=True, variant="outlined", classes=name):
        for value in range(1, 6):
            v3.VBtn(str(value), value=value, size="small")


def reading_panel(ctrl) -> None:
    """The answer form and progress, built inside the current layout context; Submit calls
    ``ctrl.submit_answer``."""
    html.Div("Reader {{ reader }}", classes="text-subtitle-1")
    html.Div("Case {{ progress_text }}", classes="text-h6 progress-text")
    with html.Div(v_if=("reading_done",), classes="reading-done"):
        html.Div("Every case is answered. Thank you!", classes="text-body-1 mt-2")
    with html.Div(v_else=True):
        with v3.VBtnToggle(v_model=("reading_contrast",), density="compact", mandatory=True, divided=True,
                           variant="outlined", classes="mb-2"):
            v3.VBtn("{{ c.title }}", v_for="c in reading_contrasts", key="c.value", value=("c.value",),
                    size="small")
        html.Div("This case is", classes="text-caption")
        with v3.VBtnToggle(v_model=("answer_label",), density="compact", divided=True, variant="outlined",
                           classes="answer_label"):
            v3.VBtn("Real", value="real", size="small")
            v3.VBtn("Synthetic", value="synthetic", size="small")
        _rating("answer_confidence", "Confidence", "guess", "certain")
        _rating("answer_realism", "Realism", "implausible", "typical")
        v3.VTextarea(v_model=("answer_comment",), label="Comment (optional)", rows=2, density="compact",
                     hide_details=True, classes="mt-2")
        v3.VBtn("Submit and next", click=click_with_state(ctrl.submit_answer, SUBMITTED), color="primary", block=True,
                classes="mt-3 submit-answer",
                disabled=("busy || !answer_label || !answer_confidence || !answer_realism",))
