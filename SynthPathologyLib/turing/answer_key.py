"""The answer key of a study: which anonymous case is real and which synthetic, and its source.

The key is a JSON file kept outside the study package (readers must never see it)::

    {"format": "synthpathology-turing-key", "version": 1, "package_id": "...", "seed": 123,
     "fraction_synthetic": 0.5, "real_root": "...", "synthetic_root": "...",
     "cases": {"3fa9c2d1": {"truth": "real", "source": "/data/real/BraTS-GLI-00001-000"}, ...}}

``package_id`` ties the key to its package, so analysing with another study's key is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import AnswerKeyError
from .study_package import StudyPackage, study_document, write_study_document

KEY_FORMAT = "synthpathology-turing-key"
KEY_VERSION = 1
TRUTHS = ("real", "synthetic")


@dataclass(frozen=True)
class AnswerKey:
    """Truth and source of every case of one package, plus how the package was drawn."""

    package_id: str
    truth: dict[str, str]
    sources: dict[str, str]
    seed: int
    fraction_synthetic: float
    real_root: str
    synthetic_root: str

    def to_json(self) -> dict:
        return study_document(
            KEY_FORMAT, KEY_VERSION, self.package_id,
            seed=self.seed,
            fraction_synthetic=self.fraction_synthetic,
            real_root=self.real_root,
            synthetic_root=self.synthetic_root,
            cases={case: {"truth": self.truth[case], "source": self.sources[case]} for case in sorted(self.truth)},
        )


def check_key_location(key_path: Path, package_root: Path) -> None:
    """Refuse a key path inside the package folder, where readers would see it."""
    package = Path(package_root).resolve()
    key = Path(key_path).resolve()
    if key == package or key.is_relative_to(package):
        raise AnswerKeyError(f"{key_path}: the answer key must not be inside the study package {package_root}")


def write_key(key_path: str | os.PathLike, key: AnswerKey, package_root: Path) -> Path:
    """Write the key atomically to ``key_path``, never inside ``package_root`` or over an existing file."""
    key_path = Path(key_path)
    check_key_location(key_path, package_root)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_study_document(key_path, key.to_json(), exclusive=True)
    except FileExistsError:
        raise AnswerKeyError(f"{key_path}: already exists; refusing to overwrite an answer key") from None
    return key_path


def load_key(key_path: str | os.PathLike, package: StudyPackage | None = None) -> AnswerKey:
    """Read and check an answer key; with ``package``, also check that it is this package's key."""
    key_path = Path(key_path)
    try:
        data = json.loads(key_path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise AnswerKeyError(f"{key_path}: no such answer key file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnswerKeyError(f"{key_path}: not a readable JSON answer key ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != KEY_FORMAT:
        raise AnswerKeyError(f"{key_path}: not a SynthPathology answer key")
    if data.get("version") != KEY_VERSION:
        raise AnswerKeyError(
            f"{key_path}: unsupported answer key version {data.get('version')!r} (expected {KEY_VERSION})"
        )
    try:
        cases = data["cases"]
        truth = {case: entry["truth"] for case, entry in cases.items()}
        sources = {case: str(entry["source"]) for case, entry in cases.items()}
        key = AnswerKey(str(data["package_id"]), truth, sources, int(data["seed"]),
                        float(data["fraction_synthetic"]), str(data["real_root"]), str(data["synthetic_root"]))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AnswerKeyError(f"{key_path}: malformed answer key ({type(exc).__name__}: {exc})") from None
    bad = sorted(case for case, value in truth.items() if value not in TRUTHS)
    if bad:
        raise AnswerKeyError(f"{key_path}: cases {', '.join(bad)} have a truth other than 'real' or 'synthetic'")
    if package is not None:
        if key.package_id != package.manifest.package_id:
            raise AnswerKeyError(
                f"{key_path}: this key belongs to another study package (package id {key.package_id}, "
                f"but {package.root} is {package.manifest.package_id})"
            )
        missing = sorted(set(package.manifest.case_ids) - truth.keys())
        extra = sorted(truth.keys() - set(package.manifest.case_ids))
        if missing or extra:
            raise AnswerKeyError(
                f"{key_path}: key and package disagree (cases missing from the key: {missing or 'none'}; "
                f"cases not in the package: {extra or 'none'})"
            )
    return key
