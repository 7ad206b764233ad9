"""Lesion mode's behaviour: the page's state and actions wired to the MRML bridge.

Every action calls the same :mod:`SynthPathologyLib.mrml` functions as the desktop module:
:func:`~SynthPathologyLib.mrml.synthesize_in_scene` (one lesion per seed, of the chosen pathology:
parametric or one of the label library given with ``--label-library``, with the chosen mass
effect; with the workflow's :class:`~SynthPathologyLib.synthesis.session.SynthesisSession`, which
keeps the models and the prepared case, so regenerating after moving a seed is fast),
:func:`~SynthPathologyLib.mrml.remove_lesion_in_scene` and :func:`~SynthPathologyLib.mrml.show_overlay`.
Choosing a pathology loads its model (:mod:`.pathology_choice` holds what follows the choice);
uploads and downloads are in :mod:`.lesion_files`, the widgets in :mod:`.lesion_panel`.
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
from ..core.image_io import lps_to_ras
from ..io.info import format_label_volumes
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
from ..pathologies import contrast_title, get_pathology
from ..phantom.generator import default_brain_case
from ..synthesis.session import SynthesisSession
from ..synthesis.synthesizer import Synthesizer
from .case_nodes import CaseNodes, put_case_in_scene
from .client_state import StateRefused, take_checked
from .downloads import download_case_id
from .lesion_files import LesionFiles
from .lesion_state import (
    DIAMETER_KEYS,
    MAX_RANDOM_SEED,
    PARAMETRIC,
    SENT_WITH_CLICKS,
    STATE_DEFAULTS,
    lesion_schema,
    lesion_shapes,
)
from .pathology_choice import DEFAULT_PATHOLOGY, pathology_choices, pathology_state
from .seed import SeedPlacer
from .tasks import in_background, reported_task, show_error
from .uploads import DataFolder, UploadLimits

# After the clicked view has rendered: time for its frame to be encoded, sent and drawn by the
# browser before the other views render (measured 0.1-0.3 s on this 2-core machine).
FRAME_TO_PAGE_S = 0.3
RENDER_TIMEOUT_S = 2.0


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
        model, device: model folder (None: each pathology's default model) and device of the
            synthesizer; a model is refused for a pathology it was not trained for.
        library: the label library the page may choose lesions from (:func:`library_lesions`).
        pathology: the registered pathology the page opens with (its model must fit: see
            :func:`~.pathology_choice.starting_pathology`).

    Attributes:
        session: the loaded models and the prepared case, kept between actions.
        pathology: the pathology whose model is loaded: what generation paints.
        result_pathology, result_seed: the pathology and random seed of the result shown.
    """

    def __init__(self, server, slicer_app, data: DataFolder, limits: UploadLimits, *, case: Case | None = None,
                 resolution_mm: float = 1.0, model: str | None = None, device: str = "auto",
                 library: Mapping[str, Path] | None = None, pathology: str = DEFAULT_PATHOLOGY):
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
        self.pathology = get_pathology(pathology).name
        self._switching: asyncio.Task | None = None  # the model of a newly chosen pathology, loading
        self._generating = False
        self._generate_again = False
        self._preparing: asyncio.Future | None = None  # the shown case's preparation, in a worker thread
        # The last click, (RAS mm, whether it adds a seed), which the next generation places.
        self._clicked_at: tuple[tuple[float, float, float], bool] | None = None
        self._first_view = None  # the view that renders first after a generation
        self.result_seed = 0
        self.result_pathology = self.pathology
        self.library = dict(library or {})
        self._library_lesion: LibraryLesion | None = None  # the last one chosen, read once
        self.state.update(STATE_DEFAULTS, lesion_shapes=lesion_shapes(self.library), pathologies=pathology_choices())
        self.state.update(pathology_state(self.pathology, self._diameters()))
        self.schema = lesion_schema(self.state, self.library)
        self.seed = SeedPlacer(self.scene, slicer_app.view_manager.get_slice_views(),
                               on_click=self._on_click, on_changed=self._on_seed_changed)
        self.seed.set_diameters(self._diameters())
        self.files = LesionFiles(self)
        self._bind()

    def _bind(self) -> None:
        state, ctrl = self.state, self.server.controller
        state.change(*DIAMETER_KEYS)(lambda **_: self.seed.set_diameters(self._diameters()))
        state.change("placing")(lambda placing, **_: self.seed.set_placing(placing))
        state.change("show_synthetic", "opacity", "contrast")(lambda **_: self.refresh_display())
        state.change("pathology")(self._on_pathology_chosen)
        ctrl.generate = in_background(self._with_page_settings(self.generate))
        ctrl.next_variant = in_background(self._with_page_settings(self.next_variant))
        ctrl.remove_lesion = in_background(self._with_page_settings(self.remove_lesion))
        ctrl.clear_seeds = self.seed.remove
        ctrl.on_server_ready.add_task(self.open_first_case)

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
            self.start_preparing()

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
                              has_result=False, operation="", seed_ras=None, seed_count=0,
                              can_remove=self.case.lesion_node is not None,
                              contrast=self.state.contrast if self.state.contrast in contrasts else contrasts[-1])
        self.refresh_display()
        for slice_view in self.slicer_app.view_manager.get_slice_views():
            slice_view.set_visible_in_3d(True)
        self.slicer_app.display_manager.reset_views()

    def start_preparing(self) -> None:
        """Prepare the shown case (mask, normalization, white-matter map: seconds for a 1 mm
        brain) in a worker thread now, so that the first generation does not wait for it."""
        if self.case is None:
            return
        work = case_preparation(self.session, self._synthesizer(), self.case.volume_nodes, self.case.brain_mask_node,
                                self.pathology)
        self._preparing = asyncio.ensure_future(asyncio.to_thread(work))

    async def _case_prepared(self) -> None:
        """Wait for the preparation started by :meth:`start_preparing`; its error, if any, is
        raised once (a later generation prepares again)."""
        preparing, self._preparing = self._preparing, None
        if preparing is not None:
            await preparing

    def _synthesizer(self) -> Synthesizer:
        """The pathology's model, loaded once for this workflow."""
        return self.session.synthesizer(self._model, self.pathology, self._device)

    # Pathology

    def _on_pathology_chosen(self, pathology: str, **_) -> None:
        """The page chose a pathology (a registered name: the guard checked it against the
        registry as it came in); anything else follows once its model has loaded."""
        if pathology != self.pathology and self._switching is None:
            self._switching = create_task(self.switch_pathology(pathology))

    async def switch_pathology(self, name: str) -> None:
        """Load ``name``'s model (the app's ``--model``, refused in one line if it is for another
        pathology), then show its labels and composition defaults and prepare the case for it.
        Refused, the chooser goes back to the pathology in use."""
        try:
            async with reported_task(self.server, f"Loading the {get_pathology(name).display_name} model…"):
                try:
                    await asyncio.to_thread(self.session.synthesizer, self._model, name, self._device)
                except BaseException:
                    with self.state:
                        self.state.pathology = self.pathology
                    raise
                self.pathology = name
                with self.state:
                    self.state.update(pathology_state(name, self._diameters()))
                self.start_preparing()
        finally:
            self._switching = None
        if self.state.pathology != self.pathology:  # chosen again while this one loaded
            self._on_pathology_chosen(self.state.pathology)

    async def _pathology_switched(self) -> None:
        """Wait for a chosen pathology's model, if one is loading (its errors are shown already)."""
        if self._switching is not None:
            await asyncio.shield(self._switching)

    # Seed

    def _diameters(self) -> tuple[float, float, float]:
        return tuple(float(self.state[key]) for key in DIAMETER_KEYS)

    def _on_click(self, center_ras, view) -> None:
        """A placing click (moves the current seed, or adds one while adding seeds): with
        generate-on-click, the generation places the seed right before it synthesizes, so the
        views render once, with the lesion, instead of first rendering the seed alone (0.1-0.3 s
        per view on Mesa's CPU GL); the clicked view renders first."""
        adding = bool(self.state.adding_seeds)
        if self.state.auto_generate and self.case is not None:
            self._clicked_at = (center_ras, adding)
            self._first_view = view
            create_task(self.generate())
        else:
            self.seed.click_at(center_ras, adding)

    def _on_seed_changed(self) -> None:
        center, diameters = self.seed.center_ras(), self.seed.diameters_mm()
        with self.state:
            self.state.seed_ras = [round(v, 1) for v in center] if center else None
            self.state.seed_count = len(self.seed.nodes)
            for key, value in zip(DIAMETER_KEYS, diameters or ()):
                if abs(float(self.state[key]) - value) > 0.05:
                    self.state[key] = round(value, 1)

    # Synthesis

    def _composition(self) -> Composition:
        state = self.state
        return Composition(edema_extent_mm=float(state.edema_mm), necrosis_fraction=float(state.necrosis),
                           rim_thickness_mm=float(state.rim_mm), irregularity=float(state.irregularity),
                           enhancing=bool(state.enhancing))

    def _random_seed(self) -> int:
        return int(self.state.random_seed)  # a whole number in range: checked as it came in

    def _chosen_library_lesion(self) -> LibraryLesion | None:
        """The library lesion the page chose (read on its first use), or None for the parametric one.
        The name is one of the library's: checked as it came in."""
        name = self.state.lesion_shape
        if name == PARAMETRIC:
            return None
        kept = self._library_lesion
        if kept is None or kept.name != name or kept.pathology != self.pathology:
            self._library_lesion = LibraryLesion.read(self.library[name], self.pathology, name)
        return self._library_lesion

    async def generate(self) -> None:
        """Paint one lesion per seed (first placing a seed at the last click, if any); clicks
        during a run make it run once more at the end with the latest seeds."""
        if self._generating:
            self._generate_again = True
            return
        self._generating = True
        try:
            await self._pathology_switched()
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
        """Place a seed at the last click, if any, and paint one lesion per seed; a refused click
        (a seed outside the brain) puts the seeds and the slice planes back where they were."""
        case = self._require_case()
        before = self.seed.snapshot()
        if self._clicked_at is not None:
            self.seed.click_at(*self._clicked_at)
            self._clicked_at = None
        try:
            if not self.seed.is_placed:
                raise SynthPathologyError("place the seed first: click in a slice view")
            started = time.perf_counter()
            self.result = synthesize_in_scene(
                self.scene, case.volume_nodes, self.seed.nodes, self.pathology, self._random_seed(),
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
                self.scene, case.volume_nodes, case.lesion_node, self.pathology, self._random_seed(),
                self._synthesizer(), brain_mask_node=case.brain_mask_node, opacity=float(self.state.opacity),
            )
            self._result_shown("remove", time.perf_counter() - started)

    def _require_case(self) -> CaseNodes:
        if self.case is None:
            raise SynthPathologyError("no case loaded yet")
        return self.case

    def _result_shown(self, operation: str, duration_s: float) -> None:
        self.result_seed, self.result_pathology = self._random_seed(), self.pathology
        specs = self.result.specs  # one per seed; none for a removal
        with self.state:
            self.state.update(has_result=True, operation=operation, show_synthetic=True,
                              result_id=self.state.result_id + 1,
                              last_duration_s=round(duration_s, 2),
                              used_contrasts=", ".join(contrast_title(c) for c in self.result.provenance["contrasts"]),
                              result_lesions=[{"pathology": spec.pathology,
                                               "center_ras": [round(v, 1) for v in lps_to_ras(spec.center_lps)]}
                                              for spec in specs],
                              lesion_volumes=format_label_volumes(self.result.label, self.pathology) if specs else "",
                              download_name=download_case_id(self.case.case_id, operation, self.result_seed) + ".zip")
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
