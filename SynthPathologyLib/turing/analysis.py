"""Statistics of a visual Turing test: can readers tell synthetic cases from real ones?

Each reader's current answer per case (a later answer supersedes an earlier one) is joined with
the answer key. Per reader and pooled over all answers: accuracy with its Wilson 95% interval
(statsmodels), a two-sided exact binomial test against 50% (scipy), sensitivity and specificity
with "synthetic" as the positive class, ROC AUC (scikit-learn) of the confidence-weighted score
(+confidence for "synthetic", -confidence for "real"), pathology-realism ratings of real versus
synthetic cases (Mann-Whitney U, scipy) and time per case. Between readers: Fleiss' kappa over
the cases every reader answered (statsmodels) and Cohen's kappa per pair (scikit-learn).

A statistic that the answers cannot define (one class only, one reader, no variation) is None,
with a note saying why. Pooled tests treat all answers as independent, although answers of one
reader (and about one case) are correlated: a note says so.
"""

from __future__ import annotations

import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from statistics import mean, median

import numpy as np
from scipy.stats import binomtest, mannwhitneyu
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from .answer_key import load_key
from .errors import StudyPackageError
from .journal import LABELS, read_all_journals
from .study_package import open_package

POSITIVE = "synthetic"


@dataclass(frozen=True)
class Rating:
    """One reader's current answer for one case, with the truth."""

    reader: str
    case: str
    truth: str
    label: str
    confidence: int
    realism: int
    time_s: float | None
    time_limit_exceeded: bool | None
    comment: str
    recorded_at: str
    via: str

    @property
    def correct(self) -> bool:
        return self.label == self.truth

    @property
    def score(self) -> int:
        """Confidence-weighted belief that the case is synthetic: +confidence or -confidence."""
        return self.confidence if self.label == POSITIVE else -self.confidence


_RATING_FIELDS = frozenset(Rating.__dataclass_fields__) - {"reader", "case", "truth"}


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _wilson(count: int, n: int) -> list[float] | None:
    if n == 0:
        return None
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    return [float(low), float(high)]


def _rate(hits: int, n: int) -> float | None:
    return hits / n if n else None


def group_statistics(ratings: list[Rating], scope: str, notes: list[str]) -> dict:
    """Accuracy, its interval and test, sensitivity, specificity, ROC AUC, realism and time of ``ratings``.

    Appends to ``notes`` why any statistic is None, naming ``scope`` ("pooled" or "reader X").
    """
    n = len(ratings)
    correct = sum(r.correct for r in ratings)
    positives = [r for r in ratings if r.truth == POSITIVE]
    negatives = [r for r in ratings if r.truth != POSITIVE]
    true_positives = sum(r.label == POSITIVE for r in positives)
    true_negatives = sum(r.label != POSITIVE for r in negatives)
    stats = {
        "n": n,
        "correct": correct,
        "accuracy": correct / n,
        "ci95": _wilson(correct, n),
        "p_value": float(binomtest(correct, n, 0.5, alternative="two-sided").pvalue),
        "n_synthetic": len(positives),
        "n_real": len(negatives),
        "sensitivity": _rate(true_positives, len(positives)),
        "sensitivity_ci95": _wilson(true_positives, len(positives)),
        "specificity": _rate(true_negatives, len(negatives)),
        "specificity_ci95": _wilson(true_negatives, len(negatives)),
        "roc_auc": None,
    }
    if positives and negatives:
        stats["roc_auc"] = float(roc_auc_score([r.truth == POSITIVE for r in ratings], [r.score for r in ratings]))
    else:
        missing = "synthetic" if not positives else "real"
        notes.append(f"{scope}: no {missing} case answered, so {'sensitivity' if not positives else 'specificity'} "
                     "and ROC AUC are undefined")

    realism = {truth: [r.realism for r in ratings if r.truth == truth] for truth in LABELS}
    stats["realism"] = {
        **{truth: {"n": len(v), "mean": mean(v) if v else None, "median": median(v) if v else None}
           for truth, v in realism.items()},
        "mann_whitney_u": None,
        "p_value": None,
    }
    if realism["real"] and realism["synthetic"]:
        test = mannwhitneyu(realism["real"], realism["synthetic"], alternative="two-sided")
        stats["realism"]["mann_whitney_u"] = _finite(test.statistic)
        stats["realism"]["p_value"] = _finite(test.pvalue)
    else:
        notes.append(f"{scope}: realism ratings of only one class, so the Mann-Whitney U test is undefined")

    times = [r.time_s for r in ratings if r.time_s is not None]
    stats["time_s"] = {
        "n": len(times),
        "mean": mean(times) if times else None,
        "median": median(times) if times else None,
        "exceeded_limit": sum(bool(r.time_limit_exceeded) for r in ratings),
    }
    return stats


@contextmanager
def _nan_when_undefined():
    """Kappa functions warn (and return NaN) when the labels do not vary; the caller notes that."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        yield


def _defined_kappa(value: float, what: str, notes: list[str]) -> float | None:
    """``value`` as a float, or None with a note when the answers leave it undefined (NaN)."""
    value = _finite(value)
    if value is None:
        notes.append(f"{what} is undefined: the readers' labels do not vary")
    return value


def agreement(ratings: list[Rating], readers: list[str], notes: list[str]) -> dict:
    """Fleiss' kappa over the cases all ``readers`` answered, and Cohen's kappa for each pair."""
    labels = {(r.reader, r.case): r.label for r in ratings}
    result: dict = {"fleiss_kappa": None, "fleiss_n_cases": 0, "cohen_kappa": []}
    if len(readers) < 2:
        notes.append("agreement between readers needs at least two readers with answers")
        return result
    cases = sorted({case for _, case in labels})
    shared = [c for c in cases if all((reader, c) in labels for reader in readers)]
    result["fleiss_n_cases"] = len(shared)
    if shared:
        matrix = np.array([[LABELS.index(labels[reader, c]) for reader in readers] for c in shared])
        table, _ = aggregate_raters(matrix, n_cat=len(LABELS))
        with _nan_when_undefined():
            kappa = fleiss_kappa(table, method="fleiss")
        result["fleiss_kappa"] = _defined_kappa(kappa, "Fleiss' kappa", notes)
    else:
        notes.append("no case was answered by every reader, so Fleiss' kappa is undefined")
    for a, b in combinations(readers, 2):
        both = [c for c in cases if (a, c) in labels and (b, c) in labels]
        kappa = None
        if both:
            with _nan_when_undefined():
                kappa = cohen_kappa_score([labels[a, c] for c in both], [labels[b, c] for c in both],
                                          labels=list(LABELS))
            kappa = _defined_kappa(kappa, f"Cohen's kappa of {a} and {b}", notes)
        else:
            notes.append(f"readers {a} and {b} answered no common case, so their Cohen's kappa is undefined")
        result["cohen_kappa"].append({"reader_a": a, "reader_b": b, "n": len(both), "kappa": kappa})
    return result


@dataclass(frozen=True)
class Analysis:
    """Everything :func:`analyze_study` found: the joined answers, statistics and notes."""

    package_root: Path
    package_id: str
    n_cases: int
    readers: list[str]
    ratings: list[Rating]
    pooled: dict
    per_reader: dict[str, dict]
    agreement: dict
    answered: dict[str, int]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The JSON summary: ``pooled`` and ``readers`` hold the same statistics."""
        return {
            "package_id": self.package_id,
            "n_cases": self.n_cases,
            "n_readers": len(self.readers),
            "answered": self.answered,
            "pooled": self.pooled,
            "readers": self.per_reader,
            "agreement": self.agreement,
            "notes": self.notes,
            "warnings": self.warnings,
        }


def analyze_study(package_path: str | os.PathLike, key_path: str | os.PathLike,
                  secret: bytes | None = None) -> Analysis:
    """Join every reader's answers with the key and compute the study's statistics (``secret``: the
    study secret that keys the journals, see :mod:`.journal_format`).

    Raises :class:`AnswerKeyError` for a key of another package, :class:`JournalCorruptError` for a
    damaged journal, and :class:`StudyPackageError` when nobody has answered yet.
    """
    package = open_package(package_path, secret)
    key = load_key(key_path, package)
    journals = read_all_journals(package)
    ratings = [
        Rating(reader, case, key.truth[case], **{k: v for k, v in asdict(record).items() if k in _RATING_FIELDS})
        for reader, journal in journals.items()
        for case, record in sorted(journal.latest().items())
    ]
    if not ratings:
        raise StudyPackageError(f"{package.root}: no reader has answered yet; nothing to analyse")
    n_cases = len(package.manifest.cases)
    answered = {reader: len(journal.latest()) for reader, journal in journals.items()}
    readers = [reader for reader, count in answered.items() if count]
    notes = [f"reader {reader} answered no case and is left out" for reader, count in answered.items() if not count]
    notes += [f"reader {reader} answered {count} of {n_cases} cases" for reader, count in answered.items()
              if 0 < count < n_cases]
    per_reader = {reader: group_statistics([r for r in ratings if r.reader == reader], f"reader {reader}", notes)
                  for reader in readers}
    pooled = group_statistics(ratings, "pooled", notes)
    if len(readers) > 1:
        notes.append("pooled tests treat every answer as independent; answers of one reader are correlated")
    return Analysis(
        package_root=package.root,
        package_id=package.manifest.package_id,
        n_cases=n_cases,
        readers=readers,
        ratings=ratings,
        pooled=pooled,
        per_reader=per_reader,
        agreement=agreement(ratings, readers, notes),
        answered=answered,
        notes=notes,
        warnings=[j.warning for j in journals.values() if j.warning],
    )
