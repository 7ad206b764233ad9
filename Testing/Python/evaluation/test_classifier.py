"""The real-vs-synthetic classifier test on feature sets whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from SynthPathologyLib.evaluation.classifier import ClassifierSamples, classifier_test, roc_auc
from SynthPathologyLib.evaluation.errors import EvaluationError

FEATURES = 12


def samples(patients: int, shift: float, seed: int = 0) -> ClassifierSamples:
    """Each patient: one real lesion and two synthetic ones (3 crops each); feature 'f3' of the
    synthetic crops is moved by ``shift`` standard deviations, the others are noise."""
    rng = np.random.default_rng(seed)
    result = ClassifierSamples(names=[f"t1:f{i}" for i in range(FEATURES)])
    for p in range(patients):
        for k, synthetic in enumerate((False, True, True)):
            crops = rng.normal(size=(3, FEATURES))
            crops[:, 3] += shift * synthetic
            result.add(f"P{p}-{k}", synthetic, f"P{p}", {"t1": crops})
    return result


def test_a_separable_feature_is_found_and_scores_perfectly():
    result = classifier_test(samples(6, shift=6.0), folds=3)
    assert result["roc_auc"]["value"] == 1.0 and result["roc_auc"]["ci_low"] == 1.0
    assert result["accuracy"]["value"] >= 0.9
    assert result["top_features"][0]["feature"] == "t1:f3"
    assert result["n"] == {"cases": 18, "real": 6, "synthetic": 12, "crops": 54, "patients": 6, "folds": 3}


def test_indistinguishable_lesions_are_not_told_apart():
    for seed in range(2):
        auc = classifier_test(samples(8, shift=0.0, seed=seed), folds=4)["roc_auc"]
        assert auc["ci_low"] < 0.5 and auc["ci_low"] <= auc["value"] <= auc["ci_high"]


def test_auc_equals_scikit_learns_with_ties():
    labels = np.array([0, 1, 1, 0, 1, 0, 1, 1], bool)
    scores = np.array([0.1, 0.8, 0.4, 0.4, 0.9, 0.2, 0.4, 0.7])
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_folds_keep_each_patients_lesions_together():
    result = classifier_test(samples(4, shift=1.0), folds=2)
    fold_of_patient = {}
    for case in result["cases"]:
        assert fold_of_patient.setdefault(case["patient"], case["fold"]) == case["fold"]
        assert 0.0 <= case["p_synthetic"] <= 1.0
    assert set(fold_of_patient.values()) == {1, 2}


def test_too_few_patients_or_one_kind_only_are_refused():
    with pytest.raises(EvaluationError, match="5 classifier folds need at least 5 patients, got 3"):
        classifier_test(samples(3, shift=1.0), folds=5)
    only_real = ClassifierSamples(names=["t1:f0"])
    for p in range(3):
        only_real.add(f"P{p}", False, f"P{p}", {"t1": np.ones((2, 1))})
    with pytest.raises(EvaluationError, match="needs real and synthetic lesions"):
        classifier_test(only_real, folds=2)
