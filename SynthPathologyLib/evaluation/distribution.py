"""Distribution metrics between feature sets: FID, KID, MMD and precision/recall.

Features are (N, D) float vectors, one per lesion crop, from the shipped encoder
(:func:`.segmenter.encoder_features`). Small sets make every such figure biased and noisy, so each
is reported beside its real-vs-real baseline: the real set split in two random halves A and B;
the synthetic figure compares half A with as many synthetic cases as B holds. Both are averaged
over several random splits (mean and standard deviation).
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import FIDMetric, MMDMetric

from .errors import EvaluationError

KNN_K = 3
MIN_PER_HALF = 2


def fid(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to (N, D) and (M, D) features (MONAI FIDMetric)."""
    return float(FIDMetric()(torch.from_numpy(x).double(), torch.from_numpy(y).double()))


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """Kernel Inception Distance: unbiased MMD² with the cubic polynomial kernel
    k(a, b) = (a·b / D + 1)³ (Bińkowski et al. 2018). Needs at least two vectors per set."""
    dim = x.shape[1]
    k_xx, k_yy, k_xy = ((a @ b.T / dim + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def mmd_linear(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the linear kernel (MONAI MMDMetric); equal set sizes."""
    return float(MMDMetric()(torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None]))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = KNN_K) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): the fraction of ``fake`` inside
    the real manifold (union of balls reaching each real vector's k-th nearest real neighbour),
    and of ``real`` inside the fake manifold."""
    def covered(reference: np.ndarray, queries: np.ndarray) -> float:
        within = np.linalg.norm(reference[:, None] - reference[None], axis=-1)
        radius = np.sort(within, axis=1)[:, min(k, len(reference) - 1)]  # column 0 is the point itself
        distance = np.linalg.norm(queries[:, None] - reference[None], axis=-1)
        return float((distance <= radius[None]).any(axis=1).mean())

    return covered(real, fake), covered(fake, real)


def _all_metrics(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    precision, recall = precision_recall(reference, other)
    return {"fid": fid(other, reference), "kid": kid(reference, other), "mmd_linear": mmd_linear(reference, other),
            "precision": precision, "recall": recall}


def distribution_metrics(real: np.ndarray, synthetic: np.ndarray, splits: int = 10,
                         seed: int = 0) -> dict[str, dict[str, float]]:
    """Each metric for real-vs-synthetic and its real-vs-real baseline over ``splits`` random
    halvings of ``real``: ``{metric: {"synthetic": mean, "synthetic_sd": sd, "baseline": mean,
    "baseline_sd": sd}}`` plus ``"n"``: the half size used."""
    half = min(len(real) // 2, len(synthetic))
    if half < MIN_PER_HALF:
        raise EvaluationError(
            f"distribution metrics need at least {2 * MIN_PER_HALF} real and {MIN_PER_HALF} synthetic cases "
            f"with a lesion (got {len(real)} and {len(synthetic)})")
    rng = np.random.default_rng(seed)
    runs: dict[str, list[dict[str, float]]] = {"synthetic": [], "baseline": []}
    for _ in range(splits):
        order = rng.permutation(len(real))
        half_a, half_b = real[order[:half]], real[order[half:2 * half]]
        fake = synthetic[rng.permutation(len(synthetic))[:half]]
        runs["synthetic"].append(_all_metrics(half_a, fake))
        runs["baseline"].append(_all_metrics(half_a, half_b))
    summary: dict[str, dict[str, float]] = {}
    for metric in runs["synthetic"][0]:
        summary[metric] = {}
        for kind, values in runs.items():
            column = np.array([v[metric] for v in values])
            summary[metric][kind], summary[metric][f"{kind}_sd"] = float(column.mean()), float(column.std())
    summary["n"] = {"per_set": half, "splits": splits}
    return summary
