"""The downstream experiment's patient-level split and its leakage rule.

A patient's cases (e.g. BraTS 2023 time points ``BraTS-GLI-00001-000`` and ``-001``) never straddle
training and test. Synthetic cases belong to the patient of their ``provenance.source_case``: one
painted into a test patient's brain must never reach training, or the test set would be seen in
training (leakage). The split is fixed before anything is trained and written to ``split.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .datasets import SyntheticEntry
from .errors import EvaluationError, LeakageError

# BraTS 2023 ids end with a time point: BraTS-GLI-00001-000 -> patient BraTS-GLI-00001.
_TIME_POINT = re.compile(r"^(BraTS-[A-Za-z]+-\d+)-\d+$")


def patient_of(case_id: str) -> str:
    """The patient a case id belongs to (its id without a BraTS 2023 time-point suffix)."""
    match = _TIME_POINT.match(case_id)
    return match.group(1) if match else case_id


@dataclass(frozen=True)
class Split:
    """Real case ids for training and testing; no patient is in both."""

    train: tuple[str, ...]
    test: tuple[str, ...]
    seed: int

    @property
    def test_patients(self) -> set[str]:
        return {patient_of(c) for c in self.test}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path


def make_split(case_ids: Sequence[str], test_fraction: float, seed: int) -> Split:
    """Random patient-level split: about ``test_fraction`` of the patients (at least one, and at
    least one left for training) go to test, with all their cases."""
    if not 0 < test_fraction < 1:
        raise EvaluationError(f"test fraction must lie between 0 and 1, got {test_fraction}")
    patients = sorted({patient_of(c) for c in case_ids})
    if len(patients) < 2:
        raise EvaluationError(f"a train/test split needs at least 2 real patients, got {len(patients)}")
    order = np.random.default_rng(seed).permutation(len(patients))
    n_test = min(max(1, round(test_fraction * len(patients))), len(patients) - 1)
    test_patients = {patients[i] for i in order[:n_test]}
    train = tuple(c for c in sorted(case_ids) if patient_of(c) not in test_patients)
    test = tuple(c for c in sorted(case_ids) if patient_of(c) in test_patients)
    return Split(train, test, seed)


def leaking(split: Split, synthetic: Sequence[SyntheticEntry]) -> list[SyntheticEntry]:
    """The synthetic cases derived from a test patient."""
    test_patients = split.test_patients
    return [entry for entry in synthetic if patient_of(entry.source_case) in test_patients]


def check_no_leakage(split: Split, synthetic: Sequence[SyntheticEntry]) -> None:
    """Refuse synthetic training cases painted into a test patient's brain, naming them."""
    bad = leaking(split, synthetic)
    if bad:
        named = ", ".join(f"{e.case_id} (from {e.source_case})" for e in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise LeakageError(
            f"{len(bad)} synthetic case(s) derive from test patients and would leak the test set into training: "
            f"{named}; synthesize only from the training cases in split.json, or pass --drop-leaking to leave "
            f"them out")
