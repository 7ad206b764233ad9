"""Summary statistics of per-case scores: mean with a t confidence interval, the paired Wilcoxon
signed-rank test, and a bootstrap confidence interval of the mean paired gain (scipy)."""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def mean_ci(values: np.ndarray) -> dict[str, float | None]:
    """Mean and its two-sided 95% Student-t interval (None for fewer than two values)."""
    values = np.asarray(values, float)
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "ci_low": None, "ci_high": None}
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * stats.sem(values))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half}


def paired_gain(treated: np.ndarray, control: np.ndarray, seed: int = 0) -> dict[str, float | None]:
    """Per-case gain ``treated - control``: its mean, bootstrap 95% percentile CI (scipy), and the
    two-sided Wilcoxon signed-rank p-value (None when every gain is zero or n < 2)."""
    gain = np.asarray(treated, float) - np.asarray(control, float)
    result: dict[str, float | None] = {"mean_gain": float(gain.mean()), "ci_low": None, "ci_high": None,
                                       "wilcoxon_p": None, "n": len(gain)}
    if len(gain) < 2 or not np.any(gain):
        return result
    result["wilcoxon_p"] = float(stats.wilcoxon(treated, control).pvalue)
    if np.ptp(gain) > 0:
        interval = stats.bootstrap((gain,), np.mean, confidence_level=CONFIDENCE, n_resamples=BOOTSTRAP_RESAMPLES,
                                   method="percentile", rng=np.random.default_rng(seed)).confidence_interval
        result["ci_low"], result["ci_high"] = float(interval.low), float(interval.high)
    return result
