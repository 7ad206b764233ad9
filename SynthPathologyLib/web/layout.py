"""The page: a title bar with a progress bar, a side panel (error banner, busy message, the mode's
panel) and the views (axial, coronal, sagittal, 3D) served by trame-slicer."""

from __future__ import annotations

from collections.abc import Callable

from trame.ui.vuetify3 import VAppLayout
from trame.widgets import html
from trame.widgets import vuetify3 as v3
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

VIEW_LAYOUT_ID = "SynthPathology"


def views_layout() -> Layout:
    """Axial and coronal on the left, sagittal and 3D on the right (Slicer's Red, Green, Yellow
    and 3D views)."""
    return Layout(
        LayoutDirection.Horizontal,
        [
            Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.axial_view(), ViewLayoutDefinition.coronal_view()]),
            Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.sagittal_view(), ViewLayoutDefinition.threed_view()]),
        ],
    )


def build_page(server, layout_manager, title: str, panel: Callable[[], None]) -> VAppLayout:
    """The page of ``server``; ``panel`` builds the mode's side panel widgets."""
    server.state.setdefault("busy", False)
    server.state.setdefault("busy_message", "")
    server.state.setdefault("error", "")
    server.state.trame__title = title
    with VAppLayout(server, full_height=True, theme="dark") as page:
        with v3.VAppBar(density="compact", elevation=0, border=True):
            v3.VAppBarTitle(title)
            v3.VProgressLinear(indeterminate=True, active=("busy",), absolute=True, location="bottom",
                               color="primary", classes="busy-bar")
        with v3.VNavigationDrawer(permanent=True, width=340), html.Div(classes="pa-3"):
            v3.VAlert(v_if=("error",), text=("error",), type="error", density="compact", closable=True,
                      click_close="error = ''", classes="mb-2 error-banner")
            html.Div("{{ busy_message }}", v_if=("busy",), classes="text-caption text-primary busy-message")
            panel()
        with v3.VMain(), html.Div(style="height: calc(100vh - 49px); position: relative;"):
            layout_manager.initialize_layout_grid(page)
    return page
