"""The trame-slicer application: one trame server, one MRML scene with its logics (trame-slicer's
``SlicerApp``), remote-rendered views, and the page of the chosen mode.

Every server run has its access token (:mod:`.access`) and accepts from pages only the state and
methods of :mod:`.client_state`. A trame server's state and views are shared by all its pages, so
one server serves one user (or one reader): the pages of one link are that user's tabs.

Rendering is offscreen (VTK's EGL window on Mesa when there is no display); the views' images
stream to the page over the server's websocket.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trame_slicer.module
from trame.app import get_server
from trame_server.utils.asynchronous import create_task
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories
from vtkmodules.vtkCommonCore import vtkCommand

from ..core.case import Case
from .access import Access, install_access
from .client_state import install_guard
from .layout import VIEW_LAYOUT_ID, build_page, views_layout
from .seed import matrix_values
from .tasks import show_error
from .uploads import DataFolder, UploadLimits

UPLOAD_GROUP_BYTES = 16_000_000
STILL_QUALITY = 90
"""JPEG quality of the views' frames: trame-rca's still-frame quality."""


@dataclass
class AppOptions:
    """How ``synthpathology app`` runs.

    Attributes:
        host, port: where the server listens (127.0.0.1: this machine only).
        data_dir: the only folder the app writes for the browser (uploads, downloads); None for a
            temporary folder removed at exit.
        resolution_mm: voxel size (mm) of the default brain (1, or 2 for a faster start).
        model, device: synthesizer model folder (None: each pathology's shipped one) and device.
        pathology: the registered pathology lesion mode opens with (None: the model's, else
            glioma); the page's chooser switches it.
        label_library: folder of segmentations whose lesions the page may place instead of the
            parametric one (lesion mode); None: the parametric lesion only.
        limits: upload limits.
        token: the access token (None: a fresh random one); identity: who it stands for.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path | None = None
    resolution_mm: float = 1.0
    model: str | None = None
    device: str = "auto"
    pathology: str | None = None
    label_library: Path | None = None
    limits: UploadLimits = field(default_factory=UploadLimits)
    token: str | None = None
    identity: str = "user"

    def access(self) -> Access:
        extra = {"token": self.token} if self.token else {}
        return Access(self.host, self.port, identity=self.identity, **extra)


@dataclass
class WebApp:
    """A built app: call :meth:`start` to serve it (blocks until the server stops)."""

    server: object
    slicer_app: SlicerApp
    layout_manager: LayoutManager
    data: DataFolder
    options: AppOptions
    access: Access
    mode: object  # LesionWorkflow or ReadingWorkflow: kept alive with the app
    _temporary: tempfile.TemporaryDirectory | None = None

    def start(self) -> None:
        """Serve until stopped (Ctrl-C); then close the mode (a reading session's journal and lock).
        No idle shutdown: readers come and go."""
        try:
            self.server.start(host=self.options.host, port=self.options.port, open_browser=False,
                              show_connection_info=False, timeout=0)
        finally:
            close = getattr(self.mode, "close", None)
            if close is not None:
                close()
            if self._temporary is not None:
                self._temporary.cleanup()


def _slicer_server(name: str, access: Access):
    """A trame server with a SlicerApp, remote views and the view layout, open to ``access`` only."""
    # Offscreen: without a display VTK would first try X11 and log an error.
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    server = get_server(name, client_type="vue3")
    install_access(server, access)
    server.enable_module(trame_slicer.module)  # its chunked file loader serves uploads
    slicer_app = SlicerApp()
    # One frame per change at the final quality: below it the scheduler renders every change
    # twice (a quick frame, then a sharper one), and each render takes 0.1-0.3 s on Mesa's CPU GL.
    register_rca_factories(slicer_app.view_manager, server, interactive_quality=STILL_QUALITY)
    layout_manager = LayoutManager(slicer_app.scene, slicer_app.view_manager, server)
    layout_manager.register_layout(VIEW_LAYOUT_ID, views_layout())
    layout_manager.set_layout(VIEW_LAYOUT_ID)
    for view in slicer_app.view_manager.get_views():
        # No multisampling (trame-slicer asks for 8x): the frames go out as JPEG anyway, and on
        # Mesa's CPU GL multisampling made each render several times slower.
        view.render_window().SetMultiSamples(0)
    publish_slice_geometry(server.state, slicer_app)
    server.controller.on_client_connected.add(lambda **_: create_task(_render_again(slicer_app)))
    return server, slicer_app, layout_manager


async def _render_again(slicer_app) -> None:
    """Render every view again shortly after a page connects: frames pushed before its image
    areas subscribed are lost, and views only render again when something changes."""
    for delay_s in (0.5, 2.0):
        await asyncio.sleep(delay_s)
        for view in slicer_app.view_manager.get_views():
            view.schedule_render()


def publish_slice_geometry(state, slicer_app) -> None:
    """Keep ``state.slice_xy_to_ras`` = {layout name ("Red", ...): 16 floats of the slice node's
    XYToRAS}: with it, page scripts (and the browser tests) map a view pixel to RAS mm as the
    server does when placing the seed."""
    state.slice_xy_to_ras = {}

    def update(slice_node, *_):
        with state:
            state.slice_xy_to_ras = {**state.slice_xy_to_ras,
                                     slice_node.GetLayoutName(): matrix_values(slice_node.GetXYToRAS())}

    for view in slicer_app.view_manager.get_slice_views():
        node = view.get_view_node()
        node.AddObserver(vtkCommand.ModifiedEvent, update)
        update(node)


def _data_folder(options: AppOptions) -> tuple[DataFolder, tempfile.TemporaryDirectory | None]:
    if options.data_dir is not None:
        return DataFolder(options.data_dir), None
    temporary = tempfile.TemporaryDirectory(prefix="synthpathology-app-")
    return DataFolder(temporary.name), temporary


def create_lesion_app(options: AppOptions, case: Case | None = None) -> WebApp:
    """Lesion mode on ``case`` (None: the default brain, built once the server runs).

    Raises:
        CaseError: ``options.label_library`` is not a folder of segmentation files.
        SynthPathologyError: an unknown ``options.pathology``, a model of another pathology, or a
            pathology without an installed default model (:func:`~.pathology_choice.starting_pathology`).
    """
    from .lesion_panel import lesion_panel
    from .lesion_workflow import LesionWorkflow, library_lesions
    from .pathology_choice import starting_pathology

    # A bad folder, pathology or model fails here, before the server starts.
    library = library_lesions(options.label_library)
    pathology = starting_pathology(options.pathology, options.model)
    access = options.access()
    server, slicer_app, layout_manager = _slicer_server("synthpathology-lesion", access)
    data, temporary = _data_folder(options)
    workflow = LesionWorkflow(server, slicer_app, data, options.limits, case=case,
                              resolution_mm=options.resolution_mm, model=options.model, device=options.device,
                              library=library, pathology=pathology)
    _guard(server, workflow.schema, options.limits)
    build_page(server, layout_manager, "SynthPathology", lambda: lesion_panel(options.limits, server.controller))
    return WebApp(server, slicer_app, layout_manager, data, options, access, workflow, temporary)


def create_reading_app(options: AppOptions, session) -> WebApp:
    """Reading mode: ``session`` (an open :class:`~SynthPathologyLib.turing.session.Session`)
    shows its cases one by one; it is closed when the server stops."""
    from .reading_panel import ReadingWorkflow, reading_panel

    access = options.access()
    server, slicer_app, layout_manager = _slicer_server("synthpathology-reading", access)
    data, temporary = _data_folder(options)
    workflow = ReadingWorkflow(server, slicer_app, session)
    _guard(server, workflow.schema, options.limits)
    build_page(server, layout_manager, "SynthPathology reading", lambda: reading_panel(server.controller))
    return WebApp(server, slicer_app, layout_manager, data, options, access, workflow, temporary)


def _guard(server, schema, limits: UploadLimits) -> None:
    """Check what pages send against ``schema``; one websocket message holds at most one upload
    group (trame-slicer's loader sends files in groups of about 10 MB, or one larger file)."""
    install_guard(server, schema, lambda message: show_error(server.state, message),
                  max_message_bytes=limits.max_file_bytes + UPLOAD_GROUP_BYTES)
