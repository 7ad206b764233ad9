"""``evaluate downstream``: does adding synthetic cases to the training data improve segmentation
of real cases?

Protocol. The real patients are split once into training and test (:mod:`.splits`); synthetic
cases derived from a test patient are refused (or, with ``drop_leaking``, left out). For every
seed, fraction f of the real training cases and real:synthetic ratio r, a segmenter (MONAI
SegResNet, :mod:`.segmenter_training`) is trained from scratch on round(f * n) real cases plus
round(r * that) synthetic ones, for the same number of steps in every arm, and tested on the real
test cases only: Dice and HD95 (mm) per region. Real subsets are nested across fractions and
synthetic subsets across ratios (one random order per seed). Gains compare each ratio with
ratio 0 (real only) at the same fraction, per test case (scores averaged over seeds): paired
Wilcoxon test and bootstrap CI of the mean gain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..io.brats import read_brats_case
from .datasets import case_folders, check_contrasts, read_evaluation_case, synthetic_entries
from .errors import EvaluationError
from .lesionwise import lesion_wise_scores
from .overlap import overlap_scores
from .segmenter import NetworkInput, SegmenterCard, network_input, segment
from .segmenter_training import TrainingSettings, train_segmenter
from .splits import Split, check_no_leakage, leaking, make_split
from .statistics import mean_ci, paired_gain


@dataclass(frozen=True)
class DownstreamSettings:
    """The experiment grid and the training of each arm.

    Attributes:
        fractions: fractions of the real training cases, in (0, 1].
        ratios: synthetic cases per real case; must include 0 (the real-only baseline).
        seeds: repetitions with different subsets and network initializations.
        test_fraction: fraction of real patients held out for testing.
        split_seed: seed of the patient split.
        steps, batch_size, patch, init_filters: training of each arm (patch side in voxels, a
            multiple of 8).
        drop_leaking: leave out synthetic cases derived from test patients instead of refusing.
    """

    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    ratios: tuple[float, ...] = (0.0, 1.0, 2.0)
    seeds: int = 3
    test_fraction: float = 0.3
    split_seed: int = 0
    steps: int = 2000
    batch_size: int = 2
    patch: int = 48
    init_filters: int = 8
    drop_leaking: bool = False

    def __post_init__(self) -> None:
        if 0.0 not in self.ratios:
            raise EvaluationError("--ratios must include 0: the real-only arm every gain is measured against")
        if not all(0 < f <= 1 for f in self.fractions) or any(r < 0 for r in self.ratios):
            raise EvaluationError("fractions must lie in (0, 1] and ratios be >= 0")
        if self.patch % 8:
            raise EvaluationError(f"patch side must be a multiple of 8, got {self.patch}")


@dataclass
class DownstreamResult:
    """Per-case rows (the CSV), the summary (summary.json) and the split used."""

    rows: list[dict]
    summary: dict
    split: Split


def _card(spacing_xyz, settings: DownstreamSettings, contrasts: list[str]) -> SegmenterCard:
    return SegmenterCard(model_id="downstream", pathology="glioma", contrasts=contrasts,
                         spacing_mm=[float(s) for s in spacing_xyz], patch_size=[settings.patch] * 3,
                         feature_crop=settings.patch, init_filters=settings.init_filters, blocks_down=[1, 2, 2, 4])


def prepare_split(real_root: str | Path, synthetic_root: str | Path, settings: DownstreamSettings):
    """The split, the real folders by id, and the synthetic cases allowed in training; refuses a
    leaking setup unless ``settings.drop_leaking``. Returns (split, real folders, allowed, dropped)."""
    real_folders = {f.name: f for f in case_folders(real_root, "real")}
    entries = synthetic_entries(synthetic_root)
    split = make_split(list(real_folders), settings.test_fraction, settings.split_seed)
    dropped = leaking(split, entries)
    if not settings.drop_leaking:
        check_no_leakage(split, entries)
    allowed = [e for e in entries if e not in dropped]
    check_no_leakage(split, allowed)  # the guard every training set passes
    return split, real_folders, allowed, dropped


def arm_sizes(fraction: float, ratio: float, n_train_real: int) -> tuple[int, int]:
    """(real, synthetic) training cases of an arm: round(fraction * n), at least 1, and round(ratio
    times that)."""
    n_real = max(1, round(fraction * n_train_real))
    return n_real, round(ratio * n_real)


def check_synthetic_supply(settings: DownstreamSettings, n_train_real: int, n_allowed: int, n_dropped: int) -> None:
    """Refuse, before any training, a grid with an arm that asks for more synthetic cases than
    may be used: it would train on fewer and be reported under a ratio it did not have."""
    needs = [(arm_sizes(fraction, ratio, n_train_real)[1], fraction, ratio)
             for fraction in settings.fractions for ratio in settings.ratios]
    need, fraction, ratio = max(needs)
    if need > n_allowed:
        left_out = f" ({n_dropped} left out as leaking)" if n_dropped else ""
        raise EvaluationError(
            f"ratio {ratio:g} at fraction {fraction:g} needs {need} synthetic cases, but {n_allowed} may be used"
            f"{left_out}: lower --ratios or make more synthetic cases (augment --per-case)")


def run_downstream(real_root: str | Path, synthetic_root: str | Path, settings: DownstreamSettings,
                   device: torch.device, progress: bool = True,
                   on_split: Callable[[Split], None] | None = None) -> DownstreamResult:
    """Run the whole grid; ``on_split`` sees the split before any training (to write it)."""
    split, real_folders, allowed, dropped = prepare_split(real_root, synthetic_root, settings)
    check_synthetic_supply(settings, len(split.train), len(allowed), len(dropped))
    if on_split:
        on_split(split)
    first = read_brats_case(real_folders[split.train[0]], require_label=True)
    card = _card(first.reference.GetSpacing(), settings, first.contrasts)
    contrasts = tuple(card.contrasts)
    check_contrasts(list(real_folders.values()), contrasts, "real")
    check_contrasts([e.folder for e in allowed], contrasts, "synthetic")

    def load(folders: list[Path], role: str) -> list[NetworkInput]:
        return [network_input(read_evaluation_case(f, contrasts, role), card)
                for f in tqdm(folders, desc=f"reading {role} cases", unit="case", disable=not progress, leave=False)]

    train_real = load([real_folders[c] for c in split.train], "real")
    test_real = load([real_folders[c] for c in split.test], "real")
    synthetic = load([e.folder for e in allowed], "synthetic")
    if max(settings.ratios) > 0 and not synthetic:
        raise EvaluationError("no synthetic case may be used for training (all derive from test patients)")

    rows = []
    arms = [(s, f, r) for s in range(settings.seeds) for f in settings.fractions for r in settings.ratios]
    for seed, fraction, ratio in tqdm(arms, desc="downstream arms", unit="arm", disable=not progress):
        rng = np.random.default_rng([settings.split_seed, seed])
        real_order, synthetic_order = rng.permutation(len(train_real)), rng.permutation(len(synthetic))
        n_real, n_synthetic = arm_sizes(fraction, ratio, len(train_real))
        cases = [train_real[i] for i in real_order[:n_real]] + [synthetic[i] for i in synthetic_order[:n_synthetic]]
        training = TrainingSettings(steps=settings.steps, batch_size=settings.batch_size, seed=seed)
        segmenter = train_segmenter(cases, card, training, device, progress, description=f"f={fraction} r={ratio}")
        for case_id, case in zip(split.test, test_real):
            prediction = segment(segmenter, case)
            scores = overlap_scores(prediction, case.label, card.spacing_mm, card.regions)
            lesion_wise = lesion_wise_scores(prediction, case.label, card.spacing_mm, card.regions)
            for region, values in scores.items():
                rows.append({"seed": seed, "fraction": fraction, "ratio": ratio, "n_real": n_real,
                             "n_synthetic": n_synthetic, "case_id": case_id, "region": region, **values,
                             **lesion_wise[region]})
    summary = summarize(rows, settings)
    summary.update({"settings": asdict(settings), "spacing_mm": card.spacing_mm, "device": str(device),
                    "n_train_real": len(train_real), "n_test": len(test_real), "n_synthetic_available": len(synthetic),
                    "dropped_leaking": [e.case_id for e in dropped]})
    return DownstreamResult(rows, summary, split)


# Per-case scores summarized and compared between arms: voxel-wise, then lesion-wise (BraTS ranking).
SCORES = ("dice", "hd95_mm", "lesion_dice", "lesion_hd95_mm")


def summarize(rows: list[dict], settings: DownstreamSettings) -> dict:
    """Per fraction, ratio and region: mean with CI over test cases (each case's scores averaged
    over seeds), and for ratios above 0 the paired gain over ratio 0."""
    regions = list(dict.fromkeys(r["region"] for r in rows))
    per_case: dict[tuple, dict[str, np.ndarray]] = {}
    for fraction in settings.fractions:
        for ratio in settings.ratios:
            for region in regions:
                selected = [r for r in rows if (r["fraction"], r["ratio"], r["region"]) == (fraction, ratio, region)]
                case_ids = sorted({r["case_id"] for r in selected})
                per_case[fraction, ratio, region] = {
                    metric: np.array([np.mean([r[metric] for r in selected if r["case_id"] == c]) for c in case_ids])
                    for metric in SCORES}
    results = []
    for (fraction, ratio, region), scores in per_case.items():
        entry = {"fraction": fraction, "ratio": ratio, "region": region,
                 **{metric: mean_ci(values) for metric, values in scores.items()}}
        if ratio > 0:
            baseline = per_case[fraction, 0.0, region]
            entry["gain"] = {metric: paired_gain(values, baseline[metric]) for metric, values in scores.items()}
        results.append(entry)
    return {"regions": regions, "results": results}
