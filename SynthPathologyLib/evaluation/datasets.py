"""The real and synthetic datasets an evaluation reads.

Both are BraTS-layout dataset folders (see :mod:`SynthPathologyLib.io.brats`). A synthetic case
folder also holds ``provenance.json`` as written by ``synthesize``, ``augment`` and ``evaluate
repaint``: its ``source_case`` names the real case it was painted into, which decides pairing and
the leakage rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..core.case import Case
from ..core.durable import read_json
from ..core.errors import CaseError
from ..io.brats import detect_naming, find_brats_cases, read_brats_case
from .errors import EvaluationError

PROVENANCE_FILE = "provenance.json"


@dataclass(frozen=True)
class SyntheticEntry:
    """One synthetic case folder and what its provenance says.

    Attributes:
        folder: the case folder.
        source_case: id of the case the lesion was painted into.
        random_seed: the generator's random seed (None if not recorded).
        lesion_key: the lesion description without its random seed, as JSON; variants of one
            seed (same source, same lesion placement) share it.
    """

    folder: Path
    source_case: str
    random_seed: int | None
    lesion_key: str

    @property
    def case_id(self) -> str:
        return self.folder.name


def case_folders(root: str | Path, role: str) -> list[Path]:
    """Case folders of a dataset; ``role`` ("real", "synthetic") names it in errors."""
    try:
        folders = find_brats_cases(root)
    except CaseError as exc:
        raise EvaluationError(f"--{role}: {exc}") from None
    if not folders:
        raise EvaluationError(f"--{role} {root}: no BraTS case folders found (empty dataset)")
    return folders


def read_provenance(folder: Path) -> dict:
    """``folder/provenance.json`` checked to be a JSON object naming its ``source_case``."""
    path = folder / PROVENANCE_FILE
    if not path.is_file():
        raise EvaluationError(f"{folder}: no {PROVENANCE_FILE}; cannot tell which real case it derives from")
    data = read_json(path, EvaluationError)
    if not isinstance(data, dict) or not isinstance(data.get("source_case"), str) or not data["source_case"]:
        raise EvaluationError(f"{path}: must be a JSON object with a non-empty string 'source_case'")
    return data


def synthetic_entries(root: str | Path) -> list[SyntheticEntry]:
    """Every synthetic case of ``root`` with its provenance (each one must have it)."""
    entries = []
    for folder in case_folders(root, "synthetic"):
        provenance = read_provenance(folder)
        seed = provenance.get("random_seed")
        lesion = provenance.get("lesion")
        if isinstance(lesion, dict):
            lesion = {k: v for k, v in lesion.items() if k != "random_seed"}
        entries.append(SyntheticEntry(folder, provenance["source_case"], seed if isinstance(seed, int) else None,
                                      json.dumps(lesion, sort_keys=True)))
    return entries


def check_contrasts(folders: list[Path], contrasts: tuple[str, ...], role: str) -> None:
    """Fail fast, from file names alone, when a case lacks one of ``contrasts`` or its label."""
    for folder in folders:
        naming = detect_naming(folder)
        suffixes = {**{c: naming.suffixes.get(c, c) for c in contrasts}, "label": naming.label_suffix}
        missing = [key for key, suffix in suffixes.items()
                   if not any(folder.glob(f"{folder.name}{naming.separator}{suffix}.*"))]
        if missing:
            raise EvaluationError(f"{role} case does not match the evaluated contrasts {', '.join(contrasts)}: "
                                  f"{folder}: missing {', '.join(missing)}")


def read_evaluation_case(folder: Path, contrasts: tuple[str, ...], role: str) -> Case:
    """A case with ``contrasts`` and a label; a missing contrast is reported as a mismatch
    between the real and synthetic datasets."""
    try:
        return read_brats_case(folder, contrasts=contrasts, require_label=True)
    except CaseError as exc:
        raise EvaluationError(f"{role} case does not match the evaluated contrasts "
                              f"{', '.join(contrasts)}: {exc}") from None
