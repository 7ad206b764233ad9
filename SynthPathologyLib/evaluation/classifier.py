"""``evaluate classifier``: can a classifier tell synthetic lesions from real ones?

An automated proxy for the visual Turing test. Each lesion gives lesion-centred 2D crops per contrast
(:mod:`.radiomic_features`); one sample is one crop position with the FRD radiomics features of every
contrast side by side. A scikit-learn random forest is cross-validated with *patient-level* folds
(scikit-learn's ``StratifiedGroupKFold``): a synthetic case belongs to the patient of its
``provenance.source_case``, so a patient's real lesion and the lesions painted into that patient's
brain are always tested together, and the forest never learns a patient's anatomy.

Per case, the out-of-fold probability of "synthetic" is the mean over its crops. Accuracy (threshold
0.5) and ROC AUC over cases come with 95% percentile bootstrap intervals that resample patients
(cases of one patient are not independent). An AUC near 0.5 means the classifier cannot tell; 1.0
means it always can. The features it relies on most are the mean impurity importances of the forests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from .datasets import case_folders, check_contrasts, read_evaluation_case, synthetic_entries
from .errors import EvaluationError
from .radiomic_features import SLICES_PER_LESION, case_features, feature_extractor
from .splits import patient_of
from .statistics import BOOTSTRAP_RESAMPLES, CONFIDENCE

TREES = 200
TOP_FEATURES = 10


@dataclass
class ClassifierSamples:
    """(N, F) crop features, and per crop its case index; per case its id, kind and patient."""

    features: list[np.ndarray] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)

    def add(self, case_id: str, synthetic: bool, patient: str, per_contrast: dict[str, np.ndarray]) -> None:
        crops = min(len(rows) for rows in per_contrast.values())
        if crops:
            rows = np.concatenate([per_contrast[c][:crops] for c in per_contrast], axis=1)
            self.features.append(rows)
            self.cases.append({"case_id": case_id, "kind": "synthetic" if synthetic else "real", "patient": patient})


def _check_folds(patients: int, folds: int) -> None:
    if folds < 2 or patients < folds:
        raise EvaluationError(f"{folds} classifier folds need at least {max(folds, 2)} patients, got {patients}: "
                              "lower --folds (minimum 2) or add cases")


def collect_samples(real_root: str | Path, synthetic_root: str | Path, contrasts: tuple[str, ...],
                    slices: int = SLICES_PER_LESION, folds: int = 2, progress: bool = True) -> ClassifierSamples:
    """Radiomics features of every real and synthetic lesion (cases without a lesion are left out);
    refuses, before any extraction, datasets with fewer patients than ``folds``."""
    real_folders = case_folders(real_root, "real")
    entries = synthetic_entries(synthetic_root)
    _check_folds(len({patient_of(f.name) for f in real_folders} | {patient_of(e.source_case) for e in entries}), folds)
    check_contrasts(real_folders, contrasts, "real")
    check_contrasts([e.folder for e in entries], contrasts, "synthetic")
    extractor = feature_extractor()
    samples = ClassifierSamples()
    jobs = [(f, False, patient_of(f.name)) for f in real_folders] + \
        [(e.folder, True, patient_of(e.source_case)) for e in entries]
    for folder, synthetic, patient in tqdm(jobs, desc="radiomics", unit="case", disable=not progress):
        case = read_evaluation_case(folder, contrasts, "synthetic" if synthetic else "real")
        per_contrast, names = case_features(case, contrasts, extractor, slices)
        samples.add(case.case_id, synthetic, patient, per_contrast)
        if names and not samples.names:
            samples.names = [f"{c}:{name}" for c in contrasts for name in names]
    return samples


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count one half): scikit-learn's ``roc_auc_score``
    at a fraction of its cost, for the bootstrap."""
    ranks = rankdata(scores)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _bootstrap(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, seed: int) -> dict[str, list[float]]:
    """Accuracy and ROC AUC over bootstrap resamples of the patients."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    values: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
    for _ in range(BOOTSTRAP_RESAMPLES):
        chosen = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        values["accuracy"].append(float(np.mean((scores[chosen] >= 0.5) == labels[chosen])))
        if 0 < labels[chosen].sum() < len(chosen):
            values["roc_auc"].append(roc_auc(labels[chosen], scores[chosen]))
    return values


def classifier_test(samples: ClassifierSamples, folds: int = 5, seed: int = 0) -> dict:
    """Cross-validated real-vs-synthetic classification of ``samples`` (see the module doc).

    Returns:
        ``accuracy`` and ``roc_auc`` (``{"value", "ci_low", "ci_high"}``), ``top_features`` (name,
        importance), ``n`` (cases, crops, patients, folds) and ``cases`` (per case: id, kind,
        patient, fold, ``p_synthetic``).

    Raises:
        EvaluationError: fewer patients than folds, or a fold whose training set lacks real or
            synthetic lesions.
    """
    kinds = np.array([case["kind"] == "synthetic" for case in samples.cases])
    patients = np.array([case["patient"] for case in samples.cases])
    if kinds.all() or not kinds.any():
        raise EvaluationError(f"the classifier test needs real and synthetic lesions (got {int((~kinds).sum())} "
                              f"real and {int(kinds.sum())} synthetic)")
    _check_folds(len(np.unique(patients)), folds)
    rows = np.concatenate(samples.features)
    case_of_row = np.concatenate([np.full(len(f), i) for i, f in enumerate(samples.features)])
    rows = np.where(np.isfinite(rows), rows, np.nan)  # the forest handles NaN; infinity it refuses
    probability, fold_of = np.zeros(len(rows)), np.zeros(len(samples.cases), int)
    importance = np.zeros(rows.shape[1])
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(rows, kinds[case_of_row], patients[case_of_row])):
        if len(np.unique(kinds[case_of_row[train]])) < 2:
            raise EvaluationError(f"classifier fold {fold + 1} of {folds} would train on one kind of lesion only; "
                                  "lower --folds or add patients with both real and synthetic lesions")
        forest = RandomForestClassifier(n_estimators=TREES, class_weight="balanced", random_state=seed, n_jobs=1)
        forest.fit(rows[train], kinds[case_of_row[train]])
        probability[test] = forest.predict_proba(rows[test])[:, list(forest.classes_).index(True)]
        fold_of[np.unique(case_of_row[test])] = fold + 1
        importance += forest.feature_importances_ / folds
    scores = np.array([probability[case_of_row == i].mean() for i in range(len(samples.cases))])
    figures = {"accuracy": np.mean((scores >= 0.5) == kinds), "roc_auc": roc_auc(kinds, scores)}
    resampled = _bootstrap(kinds, scores, patients, seed)
    tail = (1 - CONFIDENCE) / 2 * 100
    result = {key: {"value": float(value),
                    **dict(zip(("ci_low", "ci_high"), map(float, np.percentile(resampled[key], [tail, 100 - tail]))))}
              for key, value in figures.items()}
    order = np.argsort(importance)[::-1][:TOP_FEATURES]
    result["top_features"] = [{"feature": samples.names[i], "importance": float(importance[i])} for i in order]
    result["n"] = {"cases": len(samples.cases), "real": int((~kinds).sum()), "synthetic": int(kinds.sum()),
                   "crops": len(rows), "patients": len(np.unique(patients)), "folds": folds}
    result["cases"] = [{**case, "fold": int(fold_of[i]), "p_synthetic": float(scores[i])}
                       for i, case in enumerate(samples.cases)]
    return result
