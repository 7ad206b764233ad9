"""Writing a Turing-test analysis: CSV tables, ``summary.json`` and a self-contained HTML report.

Files written into the output folder (each atomically):

- ``summary.json``: :meth:`Analysis.summary` (``pooled`` and ``readers`` with accuracy, ``ci95``,
  ``p_value``, ``n`` and the other statistics; None where undefined, explained in ``notes``).
- ``answers.csv``: every current answer with the truth; ``readers.csv``: one row per reader and
  one pooled; ``agreement.csv``: Cohen's kappa per reader pair.
- ``report.html``: tables and plots, the plots embedded as base64 PNG, so the file stands alone.

The output folder must lie outside the study package: results reveal the answer key.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from ..core.durable import atomic_write_bytes
from .analysis import POSITIVE, Analysis, Rating
from .errors import StudyPackageError

_READER_COLUMNS = (
    ("n", ("n",)), ("correct", ("correct",)), ("accuracy", ("accuracy",)),
    ("ci95_low", ("ci95", 0)), ("ci95_high", ("ci95", 1)), ("p_value", ("p_value",)),
    ("sensitivity", ("sensitivity",)), ("specificity", ("specificity",)), ("roc_auc", ("roc_auc",)),
    ("realism_real_mean", ("realism", "real", "mean")), ("realism_synthetic_mean", ("realism", "synthetic", "mean")),
    ("realism_mann_whitney_u", ("realism", "mann_whitney_u")), ("realism_p_value", ("realism", "p_value")),
    ("time_mean_s", ("time_s", "mean")), ("time_median_s", ("time_s", "median")),
    ("time_limit_exceeded", ("time_s", "exceeded_limit")),
)
_ANSWER_COLUMNS = ("reader", "case", "truth", "label", "correct", "confidence", "realism", "score", "time_s",
                   "time_limit_exceeded", "recorded_at", "via", "comment")


def _lookup(stats: dict, path: tuple) -> object:
    value = stats
    for step in path:
        if value is None:
            return None
        value = value[step]
    return value


def _spreadsheet_safe(text: str) -> str:
    """Keep free text from being run as a formula when the CSV is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _csv_bytes(header: tuple[str, ...] | list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue().encode("utf-8")


def _answer_row(rating: Rating) -> list:
    return [rating.reader, rating.case, rating.truth, rating.label, int(rating.correct), rating.confidence,
            rating.realism, rating.score, rating.time_s, rating.time_limit_exceeded, rating.recorded_at, rating.via,
            _spreadsheet_safe(rating.comment)]


def _scopes(analysis: Analysis) -> list[tuple[str, dict]]:
    return [*analysis.per_reader.items(), ("pooled", analysis.pooled)]


# --- plots -----------------------------------------------------------------------------------


def _png(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def accuracy_plot(analysis: Analysis) -> str:
    """Accuracy per reader and pooled with Wilson 95% intervals, against chance (50%)."""
    figure = Figure(figsize=(6, 3.5))
    axes = figure.add_subplot()
    names, stats = zip(*_scopes(analysis))
    accuracy = [s["accuracy"] for s in stats]
    errors = [[a - s["ci95"][0] for a, s in zip(accuracy, stats)], [s["ci95"][1] - a for a, s in zip(accuracy, stats)]]
    axes.bar(names, accuracy, yerr=errors, capsize=4, color=["tab:blue"] * (len(names) - 1) + ["tab:gray"])
    axes.axhline(0.5, linestyle="--", color="black", linewidth=1, label="chance")
    axes.set_ylim(0, 1)
    axes.set_ylabel("accuracy (Wilson 95% CI)")
    axes.legend(loc="lower right")
    return _png(figure)


def roc_plot(analysis: Analysis) -> str | None:
    """ROC curves of the confidence-weighted score, per reader and pooled, where both classes were
    seen (None if nowhere)."""
    curves = [(name, stats) for name, stats in _scopes(analysis) if stats["roc_auc"] is not None]
    if not curves:
        return None
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.add_subplot()
    for name, stats in curves:
        ratings = analysis.ratings if name == "pooled" else [r for r in analysis.ratings if r.reader == name]
        fpr, tpr, _ = roc_curve([r.truth == POSITIVE for r in ratings], [r.score for r in ratings])
        axes.plot(fpr, tpr, marker=".", label=f"{name} (AUC {stats['roc_auc']:.2f})",
                  linewidth=2.5 if name == "pooled" else 1.2)
    axes.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1)
    axes.set_xlabel("1 - specificity (real called synthetic)")
    axes.set_ylabel("sensitivity (synthetic called synthetic)")
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


def realism_plot(analysis: Analysis) -> str:
    """How often each realism rating (1-5) was given to real and to synthetic cases (all readers)."""
    figure = Figure(figsize=(5, 3.5))
    axes = figure.add_subplot()
    for offset, truth in ((-0.2, "real"), (0.2, "synthetic")):
        counts = [sum(r.realism == v and r.truth == truth for r in analysis.ratings) for v in range(1, 6)]
        axes.bar([v + offset for v in range(1, 6)], counts, width=0.4, label=truth)
    axes.set_xlabel("pathology realism rating")
    axes.set_ylabel("answers")
    axes.legend()
    return _png(figure)


def time_plot(analysis: Analysis) -> str | None:
    """Time per case per reader (box plots), or None when no time was recorded."""
    times = {reader: [r.time_s for r in analysis.ratings if r.reader == reader and r.time_s is not None]
             for reader in analysis.readers}
    times = {reader: values for reader, values in times.items() if values}
    if not times:
        return None
    figure = Figure(figsize=(6, 3.5))
    axes = figure.add_subplot()
    axes.boxplot(list(times.values()), tick_labels=list(times))
    axes.set_ylabel("time per case (s)")
    return _png(figure)


# --- HTML ------------------------------------------------------------------------------------


def _number(value: object, digits: int = 3) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _interval(interval: list[float] | None) -> str:
    return "&ndash;" if interval is None else f"{interval[0]:.3f}&ndash;{interval[1]:.3f}"


def _statistics_table(analysis: Analysis) -> str:
    head = ("", "n", "accuracy", "95% CI", "p (vs 50%)", "sensitivity", "specificity", "ROC AUC",
            "realism real / synthetic", "realism p", "median time (s)")
    rows = []
    for name, s in _scopes(analysis):
        realism = s["realism"]
        cells = (html.escape(name), _number(s["n"]), _number(s["accuracy"]), _interval(s["ci95"]),
                 _number(s["p_value"], 4), _number(s["sensitivity"]), _number(s["specificity"]),
                 _number(s["roc_auc"]),
                 f"{_number(realism['real']['mean'], 2)} / {_number(realism['synthetic']['mean'], 2)}",
                 _number(realism["p_value"], 4), _number(s["time_s"]["median"], 1))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


def _agreement_html(analysis: Analysis) -> str:
    agreement = analysis.agreement
    rows = "".join(
        f"<tr><td>{html.escape(p['reader_a'])}</td><td>{html.escape(p['reader_b'])}</td>"
        f"<td>{p['n']}</td><td>{_number(p['kappa'])}</td></tr>" for p in agreement["cohen_kappa"]
    )
    return (f"<p>Fleiss' kappa: {_number(agreement['fleiss_kappa'])} over {agreement['fleiss_n_cases']} case(s) "
            "answered by every reader.</p>"
            + (f"<table><tr><th>reader</th><th>reader</th><th>cases</th><th>Cohen's kappa</th></tr>{rows}</table>"
               if rows else ""))


def report_html(analysis: Analysis) -> str:
    """The self-contained HTML report (no external files, scripts or styles)."""
    plots = [("Accuracy", accuracy_plot(analysis)), ("ROC", roc_plot(analysis)),
             ("Realism ratings", realism_plot(analysis)), ("Time per case", time_plot(analysis))]
    figures = "".join(f'<figure><img alt="{title}" src="data:image/png;base64,{png}"><figcaption>{title}'
                      "</figcaption></figure>" for title, png in plots if png)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in analysis.notes + analysis.warnings)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Visual Turing test report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:.25em .6em;text-align:right}}td:first-child{{text-align:left}}
figure{{display:inline-block;margin:1em}}</style></head><body>
<h1>Visual Turing test</h1>
<p>Study package {html.escape(analysis.package_id)}: {analysis.n_cases} cases, {len(analysis.readers)} reader(s),
{analysis.pooled['n']} answers. Positive class: synthetic. Score for ROC: +confidence for "synthetic",
&minus;confidence for "real". p: two-sided exact binomial test against 50%; realism p: Mann&ndash;Whitney U,
real versus synthetic.</p>
<h2>Accuracy</h2>{_statistics_table(analysis)}
<h2>Agreement between readers</h2>{_agreement_html(analysis)}
<h2>Plots</h2>{figures}
<h2>Notes</h2><ul>{notes or "<li>none</li>"}</ul>
</body></html>
"""


def write_report(analysis: Analysis, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the summary, tables and HTML report into ``out_dir``; returns name -> path.

    Refuses an ``out_dir`` inside the study package, where readers would see the results.
    """
    out_dir = Path(out_dir)
    package = analysis.package_root.resolve()
    if out_dir.resolve() == package or out_dir.resolve().is_relative_to(package):
        raise StudyPackageError(f"{out_dir}: results reveal the answer key; write them outside the study package")
    out_dir.mkdir(parents=True, exist_ok=True)
    reader_rows = [[name, *[_lookup(stats, path) for _, path in _READER_COLUMNS]] for name, stats in _scopes(analysis)]
    agreement_rows = [[p["reader_a"], p["reader_b"], p["n"], p["kappa"]] for p in analysis.agreement["cohen_kappa"]]
    contents = {
        "summary.json": (json.dumps(analysis.summary(), indent=2) + "\n").encode("utf-8"),
        "answers.csv": _csv_bytes(_ANSWER_COLUMNS, [_answer_row(r) for r in analysis.ratings]),
        "readers.csv": _csv_bytes(["reader", *[name for name, _ in _READER_COLUMNS]], reader_rows),
        "agreement.csv": _csv_bytes(["reader_a", "reader_b", "n_cases", "cohen_kappa"], agreement_rows),
        "report.html": report_html(analysis).encode("utf-8"),
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = out_dir / name
        atomic_write_bytes(paths[name], data)
    return paths
