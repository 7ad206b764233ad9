"""Lesion mode's side panel: case, pathology (with its label legend), seeds, size, lesion shape and
mass effect, composition, variant, generate, display, download.

Widgets only: each is bound to a state name or controller action of :mod:`.lesion_workflow`.
"""

from __future__ import annotations

from trame.widgets import html
from trame.widgets import vuetify3 as v3

from .lesion_state import PARAMETRIC, SENT_WITH_CLICKS, SLIDERS
from .tasks import click_with_state
from .uploads import UPLOAD_SUFFIXES, UploadLimits


def _slider(name: str, **kwargs) -> None:
    """The slider of ``name`` (range and label from :data:`SLIDERS`), its value written beside it."""
    label, low, high, step = SLIDERS[name]
    with v3.VSlider(v_model=(name,), label=label, min=low, max=high, step=step, thumb_label=True,
                    density="compact", hide_details=True, classes=f"my-1 slider-{name}", **kwargs):
        with v3.Template(v_slot_append=True):
            html.Span(f"{{{{ {name} }}}}", classes=f"text-caption slider-value slider-value-{name}",
                      style="min-width: 2.5em; text-align: right")


def _section(title: str) -> None:
    html.Div(title, classes="text-overline mt-3")


def upload_input(limits: UploadLimits) -> None:
    """A file input that lets the server check names and sizes first, then sends the files in
    chunks (trame-slicer's chunk loader) to the ``upload_chunk`` trigger."""
    announce = "Array.from($event.target.files).map(f => ({name: f.name, size: f.size}))"
    v3.VFileInput(
        label="Open a BraTS case (files)",
        multiple=True,
        accept=",".join(UPLOAD_SUFFIXES),
        density="compact",
        prepend_icon="mdi-folder-open",
        hint=f"T1, T1c, T2, FLAIR (+ seg) named like BraTS; at most {limits.max_file_mb:g} MB per file",
        persistent_hint=True,
        disabled=("busy",),
        change=(
            "const files = $event.target.files;"
            f"trigger('upload_check', [{announce}])"
            ".then(refused => { if (!refused) window.load_files_by_chunks(files, {trigger_name: 'upload_chunk'}); })"
        ),
        classes="upload-input",
    )


def pathology_chooser() -> None:
    """The pathology select (the registry's display names; the server checks the value) and the
    legend of its labels in their segment colours."""
    v3.VSelect(v_model=("pathology",), items=("pathologies",), label="Pathology", density="compact",
               hide_details=True, disabled=("busy",), classes="my-2 pathology-select")
    with html.Div(classes="d-flex flex-wrap ga-2 label-legend"):
        with html.Span(v_for="l in pathology_labels", key="l.value", classes="text-caption label-legend-item",
                       title=("l.name",)):
            html.Span(style=("{display: 'inline-block', width: '10px', height: '10px', marginRight: '4px', "
                             "background: l.color}",))
            html.Span("{{ l.value }} {{ l.abbreviation }}")


def lesion_panel(limits: UploadLimits, ctrl) -> None:
    """Build the panel inside the current layout context; buttons call ``ctrl``'s actions."""
    html.Div("Case: {{ case_id || '…' }}", classes="text-subtitle-1 case-name")
    upload_input(limits)
    pathology_chooser()

    _section("Seeds")
    v3.VSwitch(v_model=("placing",), label="Click in a slice view to place the seed", density="compact",
               hide_details=True, color="primary")
    with html.Div(classes="d-flex align-center ga-2"):
        v3.VSwitch(v_model=("adding_seeds",), label="Each click adds a seed", density="compact", hide_details=True,
                   color="primary", classes="adding-seeds")
        v3.VBtn("Clear seeds", click=ctrl.clear_seeds, size="small", variant="tonal",
                disabled=("busy || !seed_count",), classes="clear-seeds")
    html.Div(
        "{{ seed_ras ? `${seed_count} seed${seed_count > 1 ? 's' : ''}, the last at "
        "R ${seed_ras[0]}  A ${seed_ras[1]}  S ${seed_ras[2]} mm` : 'not placed' }}",
        classes="text-caption seed-position",
    )
    html.Div("Core diameters of the last seed and of the seeds added; its box handles resize it when placing is off",
             classes="text-caption")
    _slider("diameter_rl")
    _slider("diameter_ap")
    _slider("diameter_si")

    _section("Lesion")
    library_chosen = f"lesion_shape !== '{PARAMETRIC}'"
    # Only with --label-library: the list then holds the library's files besides "Parametric".
    v3.VSelect(v_model=("lesion_shape",), items=("lesion_shapes",), label="Lesion shape", density="compact",
               hide_details=True, v_if=("lesion_shapes.length > 1",), classes="my-1 lesion-shape")
    html.Div("A library lesion: placed at the seed, scaled to its size, turned by the random seed",
             v_if=(library_chosen,), classes="text-caption")
    _slider("mass_effect_mm")

    _section("Composition")
    # Only the sliders of the pathology's regions (no edema in multiple sclerosis); a library lesion
    # has its own composition.
    for name, region in (("edema_mm", "edema"), ("necrosis", "necrosis"), ("rim_mm", "necrosis"),
                         ("irregularity", None)):
        shown = {"v_if": (f"pathology_regions.includes('{region}')",)} if region else {}
        _slider(name, disabled=(library_chosen,), **shown)
    v3.VSwitch(v_model=("enhancing",), label="Enhancing (takes up gadolinium)", density="compact", hide_details=True,
               color="primary", disabled=(library_chosen,), classes="enhancing-switch")

    _section("Generate")
    with html.Div(classes="d-flex align-center ga-2"):
        v3.VTextField(v_model=("random_seed",), label="Random seed", type="number", density="compact",
                      hide_details=True, style="max-width: 130px")
        v3.VBtn("Next variant", click=click_with_state(ctrl.next_variant, SENT_WITH_CLICKS),
                disabled=("busy || !seed_ras",), size="small")
    v3.VSwitch(v_model=("auto_generate",), label="Generate on every click", density="compact", hide_details=True,
               color="primary")
    v3.VBtn("Generate", click=click_with_state(ctrl.generate, SENT_WITH_CLICKS), color="primary", block=True,
            disabled=("busy || !seed_ras",), classes="generate-button mt-1")
    v3.VBtn("Remove the case's lesion", click=click_with_state(ctrl.remove_lesion, SENT_WITH_CLICKS), block=True,
            variant="tonal", classes="mt-2", disabled=("busy || !can_remove",))
    html.Div("Done in {{ last_duration_s }} s from {{ used_contrasts }}", v_if=("has_result && last_duration_s !== null",),
             classes="text-caption result-time")
    html.Div("{{ result_lesions.length }} lesion{{ result_lesions.length > 1 ? 's' : '' }}: {{ lesion_volumes }}",
             v_if=("has_result && result_lesions.length",), classes="text-caption result-lesions")

    _section("Display")
    with v3.VBtnToggle(v_model=("contrast",), density="compact", mandatory=True, divided=True, variant="outlined"):
        v3.VBtn("{{ c.title }}", v_for="c in contrasts", key="c.value", value=("c.value",), size="small")
    with v3.VBtnToggle(v_model=("show_synthetic",), density="compact", mandatory=True, classes="mt-2",
                       variant="outlined", disabled=("!has_result",)):
        # Bound values: a bare Python True renders as an empty attribute, which the page sends as ''.
        v3.VBtn("Original", value=("false",), size="small")
        v3.VBtn("Synthetic", value=("true",), size="small")
    _slider("opacity", disabled=("!has_result || !show_synthetic",))
    v3.VBtn(
        "Download case (.zip)",
        prepend_icon="mdi-download",
        block=True,
        classes="mt-3",
        disabled=("busy || !has_result",),
        click="utils.download(download_name, trigger('download_case'), 'application/zip')",
    )
