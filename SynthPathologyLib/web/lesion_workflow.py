"""Lesion mode's behaviour: the page's state and actions wired to the MRML bridge.

Every action calls the same :mod:`SynthPathologyLib.mrml` functions as the desktop module:
:func:`~SynthPathologyLib.mrml.synthesize_in_scene` (a parametric lesion or one of the label library
given with ``--label-library``, with the chosen mass effect; with the workflow's
:class:`~SynthPathologyLib.synthesis.session.SynthesisSession`, which keeps the model and the prepared
case, so regenerating after moving the seed is fast), :func:`~SynthPathologyLib.mrml.remove_lesion_in_scene`,
:func:`~SynthPathologyLib.mrml.show_overlay` and, for downloads,
:func:`~SynthPathologyLib.mrml.save_brats_case_from_scene`. The widgets are in :mod:`.lesion_panel`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from trame_server.utils.asynchronous import create_task
from vtkmodules.vtkCommonCore import vtkCommand

from ..core.case import Case
from ..core.errors import SynthPathologyError
from ..lesions.library import library_files
from ..lesions.spec import Composition
from ..mrml import (
    LibraryLesion,
    SceneResult,
    case_preparation,
    remove_lesion_in_scene,
    show_overlay,
    synthesize_in_scene,
)
from ..pathologies import contrast_title
from ..phantom.generator import default_brain_case
from ..synthesis.session import SynthesisSession
from ..synthesis.synthesizer import Synthesizer
from .case_nodes import CaseNodes, put_case_in_scene
from .client_state import StateRefused, take_checked
from .downloads import brats_case_zip, download_case_id
from .lesion_state import (
    DIAMETER_KEYS,
    MAX_RANDOM_SEED,
    PARAMETRIC,
    SENT_WITH_CLICKS,
    STATE_DEFAULTS,
    lesion_schema,
    lesion_shapes,
)
from .seed import SeedPlacer
from .tasks import in_background, reported_task, show_error
from .uploads import DataFolder, UploadError, UploadLimits, UploadReceiver, read_uploaded_case, store_upload

PATHOLOGY = "glioma"
# After the clicked view has rendered: time for its frame to be encoded, sent and drawn by the
# browser before the other views render (measured 0.1-0.3 s on this 2-core machine).
FRAME_TO_PAGE_S = 0.3
RENDER_TIMEOUT_S = 2.0
UPLOAD_IDLE_S = 60.0  # an upload whose next group of files takes longer is dropped


def library_lesions(folder: str | Path | None) -> dict[str, Path]:
    """name -> file of each segmentation in the label library ``folder`` (:func:`library_files`),
    named by its path inside the folder ('/'-separated): what the page lists and sends back, never a
    server path. Empty without a folder.

    Raises:
        CaseError: ``folder`` is not a folder or holds no segmentation file.
    """
    if folder is None:
        return {}
    root = Path(folder).resolve()
    return {path.relative_to(root).as_posix(): path for path in library_files(root)}


async def _render_and_wait(view) -> None:
    """Let ``view`` render (it must be render-blocked) and wait until it has, then
    :data:`FRAME_TO_PAGE_S` more."""
    rendered = asyncio.Event()
    window = view.render_window()
    observer = window.AddObserver(vtkCommand.EndEvent, lambda *_: rendered.set())
    try:
        view.set_render_blocked(False)  # schedules its render
        await asyncio.wait_for(rendered.wait(), RENDER_TIMEOUT_S)
        await asyncio.sleep(FRAME_TO_PAGE_S)
    except TimeoutError:
        pass  # a view that does not render (hidden) must not hold the others
    finally:
        window.RemoveObserver(observer)


class LesionWorkflow:
    """State and actions of lesion mode for one app (one scene, one case at a time).

    Args:
        server: the trame server.
        slicer_app: trame-slicer's SlicerApp (scene, logics, views).
        data: the app's data folder (uploads, downloads).
        limits: upload limits.
        case: the case to open, or None for the default brain at ``resolution_mm``.
        model, device: model folder (None: the shipped one) and device of the synthesizer.
        library: the label library the page may choose lesions from (:func:`library_lesions`).

    Attributes:
        session: the loaded model and the prepared case, kept between actions.
    """

    def __init__(self, server, slicer_app, data: DataFolder, limits: UploadLimits, *, case: Case | None = None,
                 resolution_mm: float = 1.0, model: str | None = None, device: str = "auto",
                 library: Mapping[str, Path] | None = None):
        self.server = server
        self.state = server.state
        self.slicer_app = slicer_app
        self.scene = slicer_app.scene
        self.data = data
        self.limits = limits
        self.case: CaseNodes | None = None
        self.result: SceneResult | None = None
        self._initial_case = case
        self._resolution_mm = resolution_mm
        self._model = model
        self._device = device
        self.session = SynthesisSession()
        self.uploads = UploadReceiver(limits)
        self._upload_timer: asyncio.TimerHandle | None = None
        self._generating = False
        self._generate_again = False
        self._preparing: asyncio.Future | None = None  # the shown case's preparation, in a worker thread
        self._clicked_at: tuple[float, float, float] | None = None  # seed the next generation places
        self._first_view = None  # the view that renders first after a generation
        self._result_seed = 0
        self.library = dict(library or {})
        self._library_lesion: LibraryLesion | None = None  # the last one chosen, read once
        self.state.update(STATE_DEFAULTS, lesion_shapes=lesion_shapes(self.library))
        self.schema = lesion_schema(self.state, self.library)
        self.seed = SeedPlacer(self.scene, slicer_app.view_manager.get_slice_views(),
                               on_click=self._on_click, on_changed=self._on_seed_changed)
        self._bind()

    def _bind(self) -> None:
        state, ctrl = self.state, self.server.controller
        state.change(*DIAMETER_KEYS)(lambda **_: self.seed.set_diameters(self._diameters()))
        state.change("placing")(lambda placing, **_: self.seed.set_placing(placing))
        state.change("show_synthetic", "opacity", "contrast")(lambda **_: self.refresh_display())
        ctrl.generate = in_background(self._with_page_settings(self.generate))
        ctrl.next_variant = in_background(self._with_page_settings(self.next_variant))
        ctrl.remove_lesion = in_background(self._with_page_settings(self.remove_lesion))
        ctrl.on_server_ready.add_task(self.open_first_case)
        self.server.trigger("upload_check")(self.upload_check)
        self.server.trigger("upload_chunk")(self.upload_chunk)
        self.server.trigger("download_case")(self.download_case)

    def _with_page_settings(self, action: Callable[[], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """``action`` after taking the settings the page sent with the click
        (:data:`SENT_WITH_CLICKS`): the ones on screen, which the state may not hold yet."""

        async def run(settings: dict | None = None) -> None:
            try:
                take_checked(self.state, self.schema, {k: v for k, v in (settings or {}).items()
                                                       if k in SENT_WITH_CLICKS})
            except StateRefused as exc:
                show_error(self.state, str(exc))
                return
            await action()

        return run

    # Cases

    async def open_first_case(self, **_) -> None:
        """The case from the command line, else the default brain (built in a worker thread: it
        takes seconds and touches no MRML); the model loads meanwhile too."""
        message = "Loading the case…" if self._initial_case else "Building the default brain (MNI152 phantom)…"
        async with reported_task(self.server, message):
            model = asyncio.to_thread(self._synthesizer)
            case = self._initial_case or await asyncio.to_thread(default_brain_case, self._resolution_mm)
            await model
            self.show_case(case)
            self._start_preparing()

    def show_case(self, case: Case) -> None:
        """Replace the case on screen (and its results) by ``case``; a case without the contrasts
        the model needs is refused (a v2+ model takes any subset of its contrasts)."""
        self._synthesizer().usable_contrasts(case)
        self.case = put_case_in_scene(self.scene, case, self.case)
        self.result = None
        self.seed.remove()
        contrasts = list(self.case.volume_nodes)
        with self.state:
            self.state.update(case_id=case.case_id,
                              contrasts=[{"value": c, "title": contrast_title(c)} for c in contrasts],
                              has_result=False, operation="", seed_ras=None, can_remove=self.case.lesion_node is not None,
                              contrast=self.state.contrast if self.state.contrast in contrasts else contrasts[-1])
        self.refresh_display()
        for slice_view in self.slicer_app.view_manager.get_slice_views():
            slice_view.set_visible_in_3d(True)
        self.slicer_app.display_manager.reset_views()

    def _start_preparing(self) -> None:
        """Prepare the shown case (mask, normalization, white-matter map: seconds for a 1 mm
        brain) in a worker thread now, so that the first generation does not wait for it."""
        if self.case is None:
            return
        work = case_preparation(self.session, self._synthesizer(), self.case.volume_nodes, self.case.brain_mask_node,
                                PATHOLOGY)
        self._preparing = asyncio.ensure_future(asyncio.to_thread(work))

    async def _case_prepared(self) -> None:
        """Wait for the preparation started by :meth:`_start_preparing`; its error, if any, is
        raised once (a later generation prepares again)."""
        preparing, self._preparing = self._preparing, None
        if preparing is not None:
            await preparing

    def _synthesizer(self) -> Synthesizer:
        """The model, loaded once for this workflow."""
        return self.session.synthesizer(self._model, PATHOLOGY, self._device)

    # Seed

    def _diameters(self) -> tuple[float, float, float]:
        return tuple(float(self.state[key]) for key in DIAMETER_KEYS)

    def _on_click(self, center_ras, view) -> None:
        """A placing click: with generate-on-click, the generation places the seed right before it
        synthesizes, so the views render once, with the lesion, instead of first rendering the
        seed alone (0.1-0.3 s per view on Mesa's CPU GL); the clicked view renders first."""
        if self.state.auto_generate and self.case is not None:
            self._clicked_at = center_ras
            self._first_view = view
            create_task(self.generate())
        else:
            self.seed.move_to(center_ras)

    def _on_seed_changed(self) -> None:
        center, diameters = self.seed.center_ras(), self.seed.diameters_mm()
        with self.state:
            self.state.seed_ras = [round(v, 1) for v in center] if center else None
            for key, value in zip(DIAMETER_KEYS, diameters or ()):
                if abs(float(self.state[key]) - value) > 0.05:
                    self.state[key] = round(value, 1)

    # Synthesis

    def _composition(self) -> Composition:
        state = self.state
        return Composition(edema_extent_mm=float(state.edema_mm), necrosis_fraction=float(state.necrosis),
                           rim_thickness_mm=float(state.rim_mm), irregularity=float(state.irregularity))

    def _random_seed(self) -> int:
        return int(self.state.random_seed)  # a whole number in range: checked as it came in

    def _chosen_library_lesion(self) -> LibraryLesion | None:
        """The library lesion the page chose (read on its first use), or None for the parametric one.
        The name is one of the library's: checked as it came in."""
        name = self.state.lesion_shape
        if name == PARAMETRIC:
            return None
        if self._library_lesion is None or self._library_lesion.name != name:
            self._library_lesion = LibraryLesion.read(self.library[name], PATHOLOGY, name)
        return self._library_lesion

    async def generate(self) -> None:
        """Paint the lesion the seed asks for (first placing the seed at the last click, if any);
        clicks during a run make it run once more at the end with the latest seed."""
        if self._generating:
            self._generate_again = True
            return
        self._generating = True
        try:
            self._generate_again = True
            while self._generate_again:
                self._generate_again = False
                async with reported_task(self.server, "Generating the lesion…"):
                    await self._case_prepared()
                    async with self._renders_held():
                        self._synthesize()
        finally:
            self._generating = False

    @asynccontextmanager
    async def _renders_held(self):
        """No view renders until the body is done; then the view the user clicked renders, and
        the others only once its frame has had time to reach the page: each render takes both
        cores for 0.1-0.3 s (Mesa's CPU GL), which would keep the browser from drawing it."""
        views = [view for view in self.slicer_app.view_manager.get_views() if not view.is_render_blocked]
        for view in views:
            view.set_render_blocked(True)
        try:
            yield
        finally:
            first = self._first_view if self._first_view in views else None
            if first is not None:
                await _render_and_wait(first)
            for view in views:
                if view is not first:
                    view.set_render_blocked(False)  # schedules its render

    def _synthesize(self) -> None:
        """Place the seed at the last click, if any, and paint; a refused click (a seed outside the
        brain) puts the seed and the slice planes back where they were."""
        case = self._require_case()
        before = self.seed.snapshot()
        if self._clicked_at is not None:
            self.seed.move_to(self._clicked_at)
            self._clicked_at = None
        try:
            if not self.seed.is_placed:
                raise SynthPathologyError("place the seed first: click in a slice view")
            started = time.perf_counter()
            self.result = synthesize_in_scene(
                self.scene, case.volume_nodes, self.seed.node, PATHOLOGY, self._random_seed(),
                self._synthesizer(), composition=self._composition(), mass_effect_mm=float(self.state.mass_effect_mm),
                library_lesion=self._chosen_library_lesion(), brain_mask_node=case.brain_mask_node,
                opacity=float(self.state.opacity), session=self.session,
            )
        except BaseException:
            self.seed.restore(before)
            raise
        self._result_shown("synthesize", time.perf_counter() - started)

    async def next_variant(self) -> None:
        """Another random seed, same place and size: another lesion."""
        self.state.random_seed = (self._random_seed() + 1) % (MAX_RANDOM_SEED + 1)
        await self.generate()

    async def remove_lesion(self) -> None:
        """Inpaint healthy tissue over the case's own lesion label."""
        async with reported_task(self.server, "Removing the lesion…"):
            case = self._require_case()
            if case.lesion_node is None:
                raise SynthPathologyError(f"case {case.case_id} has no lesion label to remove")
            started = time.perf_counter()
            self.result = remove_lesion_in_scene(
                self.scene, case.volume_nodes, case.lesion_node, PATHOLOGY, self._random_seed(),
                self._synthesizer(), brain_mask_node=case.brain_mask_node, opacity=float(self.state.opacity),
            )
            self._result_shown("remove", time.perf_counter() - started)

    def _require_case(self) -> CaseNodes:
        if self.case is None:
            raise SynthPathologyError("no case loaded yet")
        return self.case

    def _result_shown(self, operation: str, duration_s: float) -> None:
        self._result_seed = self._random_seed()
        with self.state:
            self.state.update(has_result=True, operation=operation, show_synthetic=True,
                              result_id=self.state.result_id + 1,
                              last_duration_s=round(duration_s, 2),
                              used_contrasts=", ".join(contrast_title(c) for c in self.result.provenance["contrasts"]),
                              download_name=download_case_id(self.case.case_id, operation, self._result_seed) + ".zip")
        self.refresh_display()

    def refresh_display(self) -> None:
        """Slice views: the chosen contrast, with its synthetic version over it at the chosen
        opacity (0 when "original" is chosen); the lesion outline only over the synthetic."""
        if self.case is None:
            return
        nodes = self.case.volume_nodes
        contrast = self.state.contrast if self.state.contrast in nodes else next(iter(nodes))
        original = nodes[contrast]
        synthetic = self.result.volume_nodes.get(contrast) if self.result else None
        show = bool(self.state.show_synthetic)
        if synthetic is None:
            self.slicer_app.display_manager.show_volume_in_slice_background(original)
            self.slicer_app.display_manager.show_volume_in_slice_foreground(None)
        else:
            show_overlay(self.scene, original, synthetic, float(self.state.opacity) if show else 0.0)
        if self.result is not None and self.state.operation == "synthesize":
            display = self.result.segmentation_node.GetDisplayNode()
            display.SetVisibility2DFill(False)  # outline only: the synthetic lesion shows inside
            display.SetVisibility(show)

    # Files

    def upload_check(self, files: list[dict]) -> str:
        """Names and sizes the browser announces, checked before it sends any content; returns
        the refusal ("" when accepted), also shown in the page."""
        try:
                self.uploads.start(files)
        except UploadError as exc:
            show_error(self.state, str(exc))
            return str(exc)
        self._expect_more_upload()
        return ""

    def upload_chunk(self, files: list[dict]) -> None:
        """Receives the files in groups, counted against the limits as they come; an empty group
        ends the upload and opens the case."""
        if not self.uploads.active:
            return  # refused or abandoned earlier: the page was told
        try:
            if files:
                self.uploads.add(files if isinstance(files, list) else [None])
                self._expect_more_upload()
                return
            uploads = self.uploads.finish()
        except UploadError as exc:
            show_error(self.state, str(exc))
            return
        self._expect_more_upload(cancel=True)
        create_task(self._open_upload(uploads))

    def _expect_more_upload(self, cancel: bool = False) -> None:
        """(Re)start the clock that drops an upload whose next group does not come in time."""
        if self._upload_timer is not None:
            self._upload_timer.cancel()
            self._upload_timer = None
        if not cancel:
            self._upload_timer = asyncio.get_running_loop().call_later(UPLOAD_IDLE_S, self._drop_upload)

    def _drop_upload(self) -> None:
        if self.uploads.active:
            self.uploads.drop()
            show_error(self.state, f"the upload stopped for over {UPLOAD_IDLE_S:g} s and was dropped; "
                                   "choose the files again")

    async def _open_upload(self, uploads: list[dict]) -> None:
        async with reported_task(self.server, "Reading the uploaded case…"):
            # Off the event loop: gigabytes of bad data must not freeze the other pages.
            folder = await asyncio.to_thread(store_upload, uploads, self.data, self.limits)
            del uploads
            try:
                case = await asyncio.to_thread(read_uploaded_case, folder)
            finally:
                self.data.remove(folder)  # the images are in memory now
            self.show_case(case)
            self._start_preparing()

    def download_case(self):
        """The shown result as a zipped BraTS case (an attachment for the page's download)."""
        if self.result is None:
            show_error(self.state, "nothing to download yet: generate a lesion first")
            return None
        operation = self.state.operation
        segmentation = self.result.segmentation_node if operation == "synthesize" else None
        case_id = download_case_id(self.case.case_id, operation, self._result_seed)
        try:
            payload = brats_case_zip(self.data, case_id, self.result.volume_nodes, segmentation,
                                     self.result.provenance)
        except SynthPathologyError as exc:
            show_error(self.state, str(exc))
            return None
        return self.server.protocol.addAttachment(payload)
