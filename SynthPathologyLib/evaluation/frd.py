"""Fréchet Radiomics Distance (FRD v1; Konz, Osuala et al., Medical Image Analysis 2026) between sets
of radiomics features, beside its real-vs-real baseline.

The distance follows the ``frd-score`` package's v1 pipeline step by step, on features already
extracted (:mod:`.radiomic_features`) so that each crop is extracted once for every split: rows
with a NaN feature dropped, float32, z-score against the *reference* (first) set, feature columns
with NaN or infinity in either set dropped, Fréchet distance between the fitted Gaussians
(the package's ``calculate_frechet_distance``), FRD = log(d²). It needs no trained network, so it
means the same on phantoms and patients; lower is closer, and -inf means identical sets.

The baseline splits the real *patients* (all crops of one patient stay together) in two random
halves A and B and compares A with B; the synthetic figure compares A with as many synthetic cases
as B holds patients, painted into B's patients where provenance allows; both are averaged over
random splits.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.dependencies import import_optional
from .errors import EvaluationError

SPLITS = 10
MIN_CROPS_PER_SET = 2  # a covariance needs two rows


def frechet_radiomics_distance(reference: np.ndarray, other: np.ndarray) -> float:
    """FRD v1 of (M, F) features ``other`` against (N, F) features ``reference`` (see the module doc)."""
    frd = import_optional("frd_score.frd", "evaluation")

    sets = [np.asarray(features, np.float64) for features in (reference, other)]
    sets = [features[~np.isnan(features).any(axis=1)].astype(np.float32) for features in sets]
    if min(len(features) for features in sets) < MIN_CROPS_PER_SET:
        raise EvaluationError(f"FRD needs at least {MIN_CROPS_PER_SET} crops with finite features per set "
                              f"(got {len(sets[0])} and {len(sets[1])})")
    normalized = [frd.z_score_normalize(features, 0, 1, base_distribution=sets[0], replace_nan=False,
                                    handle_std_zero=False) for features in sets]
    keep = np.all([np.isfinite(features).all(axis=0) for features in normalized], axis=0)
    if not keep.any():
        raise EvaluationError("FRD: no feature varies within the reference set")
    normalized = [features[:, keep] for features in normalized]
    squared = frd.calculate_frechet_distance(*(statistic for features in normalized for statistic in
                                           (features.mean(axis=0), np.cov(features, rowvar=False))))
    return math.log(squared) if squared > 0 else -math.inf


def _painted_into(synthetic: list[tuple[str, np.ndarray]], half_a: set[str], half_b: set[str]) -> list[int]:
    """Synthetic cases painted into half B's patients; else into patients outside half A; else all."""
    for keep in (lambda source: source in half_b, lambda source: source not in half_a, lambda source: True):
        chosen = [i for i, (source, _) in enumerate(synthetic) if keep(source)]
        if chosen:
            return chosen
    return []


def frd_with_baseline(real: dict[str, np.ndarray], synthetic: list[tuple[str, np.ndarray]], splits: int = SPLITS,
                      seed: int = 0) -> dict:
    """FRD of synthetic crops and its real-vs-real baseline over patient-level random splits.

    In each split the real patients fall in halves A and B; the baseline is FRD(A, B) and the
    synthetic figure FRD(A, S), S as many synthetic cases as B has patients, drawn from those painted
    into B's patients (see :func:`_painted_into`): a repaint of a patient shares that patient's
    anatomy, so S and B differ by the generator alone, and none of S shares A's anatomy.

    Args:
        real: patient -> (n, F) crop features of the patient's lesions.
        synthetic: (source patient, (m, F) crop features) per synthetic case.

    Returns:
        ``{"synthetic": mean, "synthetic_sd": sd, "baseline": mean, "baseline_sd": sd,
        "n": {"patients_per_set", "splits"}}``.
    """
    patients = [patient for patient, features in real.items() if len(features)]
    synthetic = [(source, features) for source, features in synthetic if len(features)]
    half = min(len(patients) // 2, len(synthetic))
    if half < 1:
        raise EvaluationError(f"FRD needs at least 2 real patients and 1 synthetic case with a lesion "
                              f"(got {len(patients)} and {len(synthetic)})")
    rng = np.random.default_rng(seed)
    runs: dict[str, list[float]] = {"synthetic": [], "baseline": []}
    for _ in range(splits):
        order = [patients[i] for i in rng.permutation(len(patients))]
        half_a, half_b = order[:half], order[half:2 * half]
        candidates = _painted_into(synthetic, set(half_a), set(half_b))
        fake = rng.permutation(candidates)[:half]
        reference = np.concatenate([real[p] for p in half_a])
        runs["synthetic"].append(frechet_radiomics_distance(reference, np.concatenate([synthetic[i][1] for i in fake])))
        runs["baseline"].append(frechet_radiomics_distance(reference, np.concatenate([real[p] for p in half_b])))
    summary: dict = {}
    for kind, values in runs.items():
        summary[kind], summary[f"{kind}_sd"] = float(np.mean(values)), float(np.std(values))
    summary["n"] = {"patients_per_set": half, "splits": splits}
    return summary
