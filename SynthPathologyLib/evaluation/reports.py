"""Files of the evaluation commands: JSON in and out, CSV, a Markdown summary and a plot.

JSON holds no NaN or infinity (they become null), so every JSON reader accepts it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..core.durable import atomic_write_bytes


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, data: dict) -> Path:
    atomic_write_bytes(path, (json.dumps(_finite(data), indent=2, allow_nan=False) + "\n").encode())
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    """One row per dict; the columns are every key, in order of first appearance."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())
    return path


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def _with_ci(stat: dict | None, digits: int = 3) -> str:
    if not stat:
        return "n/a"
    if stat.get("ci_low") is None:
        return _number(stat["mean"], digits)
    return f"{_number(stat['mean'], digits)} [{_number(stat['ci_low'], digits)}, {_number(stat['ci_high'], digits)}]"


def _baseline_table(title: str, note: str, figures: dict, digits: int) -> list[str]:
    """A Markdown table of ``{name: {"synthetic", "synthetic_sd", "baseline", "baseline_sd"} or {"skipped"}}``."""
    lines = ["", title, "", *([note, ""] if note else []), "| metric | real vs synthetic | real vs real (baseline) |",
             "|---|---|---|"]
    for name, values in figures.items():
        if "skipped" in values:
            lines.append(f"| {name} | skipped: {values['skipped']} | |")
        elif name != "n":
            synthetic = f"{_number(values['synthetic'], digits)} ± {_number(values['synthetic_sd'], digits)}"
            lines.append(f"| {name} | {synthetic} "
                         f"| {_number(values['baseline'], digits)} ± {_number(values['baseline_sd'], digits)} |")
    return lines


def fidelity_markdown(summary: dict) -> str:
    """A short Markdown summary of ``evaluate fidelity``'s metrics.json (means with 95% CI)."""
    segmenter = summary["segmenter"]
    lines = [f"# Fidelity: {summary['synthetic']} against {summary['real']}", "",
             f"{summary['n_real']} real and {summary['n_synthetic']} synthetic cases; features and label consistency "
             f"by segmenter `{segmenter['model_id']}`."]
    if segmenter.get("warning"):
        lines += ["", f"**Warning:** {segmenter['warning']}."]
    distribution = summary["distribution"]
    lines += _baseline_table(
        "## Distribution (lesion-centred encoder features)",
        f"Sets of {distribution['n']['per_set']} cases, mean ± sd over {distribution['n']['splits']} random splits "
        "of the real cases." if "n" in distribution else "", {"all": distribution} if "skipped" in distribution
        else distribution, 4)
    if summary.get("frd"):
        lines += _baseline_table(
            "## Fréchet Radiomics Distance (lesion-centred crops, per contrast; lower is closer)",
            "FRD v1 = log(d²); mean ± sd over random splits of the real patients.", summary["frd"], 2)
    consistency = summary["label_consistency"]
    lines += ["", "## Label consistency (segmenter trained on real data)", "",
              "| score | synthetic cases vs conditioning label | real cases vs their label |", "|---|---|---|"]
    for key in consistency["real"]:
        lines.append(f"| {key} | {_with_ci(consistency['synthetic'][key])} | {_with_ci(consistency['real'][key])} |")
    paired = summary["paired"]
    lines += ["", f"## Paired, inside the lesion ({paired['n']} synthetic cases with a real counterpart)", ""]
    if paired["n"]:
        lines += ["| metric | mean [95% CI] |", "|---|---|"]
        lines += [f"| {k} | {_with_ci(v)} |" for k, v in paired.items() if k != "n"]
    diversity = summary["diversity"]
    lines += ["", "## Diversity", "", f"MS-SSIM among variants of one seed ({diversity['seeds']} seeds with 2+ "
              f"variants; 1 = identical): {_with_ci(diversity['ms_ssim'])}", ""]
    return "\n".join(lines)


def downstream_plot(summary: dict, path: Path) -> Path:
    """Dice (mean and 95% CI over test cases) against the real-data fraction, one line per
    real:synthetic ratio, one panel per region; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    regions = summary["regions"]
    figure = Figure(figsize=(4 * len(regions), 3.4), constrained_layout=True)
    axes = figure.subplots(1, len(regions), squeeze=False)[0]
    ratios = sorted({r["ratio"] for r in summary["results"]})
    for axis, region in zip(axes, regions):
        for ratio in ratios:
            points = sorted((r["fraction"], r["dice"]) for r in summary["results"]
                            if r["region"] == region and r["ratio"] == ratio)
            x = [p[0] for p in points]
            mean = [p[1]["mean"] for p in points]
            low = [p[1]["ci_low"] if p[1]["ci_low"] is not None else p[1]["mean"] for p in points]
            high = [p[1]["ci_high"] if p[1]["ci_high"] is not None else p[1]["mean"] for p in points]
            axis.plot(x, mean, marker="o", label="real only" if ratio == 0 else f"real + {ratio:g}x synthetic")
            axis.fill_between(x, low, high, alpha=0.15)
        axis.set(title=region, xlabel="fraction of real training cases", ylabel="Dice (test cases)", ylim=(0, 1))
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue())
    return path
