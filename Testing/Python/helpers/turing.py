"""Small BraTS-layout datasets and study packages for the Turing-test suites.

"Real" cases are noisy int16 images on one grid, written compressed in BraTS 2023 naming;
"synthetic" cases are smooth float32 images on a shifted grid in BraTS 2021 naming, with a
provenance file: everything a careless package would leak (sizes, dtypes, names, headers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.io.brats import write_brats_case
from SynthPathologyLib.turing.create import CreateOptions, create_package
from SynthPathologyLib.turing.study_package import CaseEntry, Manifest, Settings, case_file_path, write_manifest

CONTRASTS = ("t1", "t1c", "t2", "flair")


def _brain(shape: tuple[int, int, int]) -> np.ndarray:
    z, y, x = np.indices(shape)
    center = (np.array(shape) - 1) / 2
    return ((z - center[0]) ** 2 + (y - center[1]) ** 2 + (x - center[2]) ** 2) <= (min(shape) / 2 - 2) ** 2


def make_dataset(root: Path, n_cases: int, kind: str, seed: int, shape=(16, 16, 16)) -> Path:
    """Write ``n_cases`` BraTS case folders of ``kind`` ("real" or "synthetic") under ``root``."""
    rng = np.random.default_rng(seed)
    brain = _brain(shape)
    for index in range(n_cases):
        images = {}
        for offset, contrast in enumerate(CONTRASTS):
            values = rng.normal(500 + 100 * offset, 150, shape)
            if kind == "synthetic":
                values = ndimage.gaussian_filter(values, 2) * 3 - 1000 - 200 * offset
            array = np.where(brain, values, 0).astype(np.int16 if kind == "real" else np.float32)
            image = sitk.GetImageFromArray(array)
            image.SetSpacing((1.0, 1.0, 1.0) if kind == "real" else (1.0, 1.0, 1.2))
            image.SetOrigin((0.0, 0.0, 0.0) if kind == "real" else (3.0, -2.0, 1.0))
            images[contrast] = image
        label = sitk.GetImageFromArray((brain & (rng.random(shape) < 0.05)).astype(np.uint8) * 2)
        label.CopyInformation(images["t1"])
        case_id = f"BraTS-GLI-{index:05d}-000" if kind == "real" else f"Phantom-{index:05d}"
        folder = write_brats_case(Case(images, label=label, case_id=case_id), root / case_id,
                                  naming="2023" if kind == "real" else "2021")
        if kind == "synthetic":
            (folder / "phantom.json").write_text(json.dumps({"case_seed": index, "generator": "test"}))
    return root


def make_package(tmp: Path, n_real: int = 3, n_synthetic: int = 3, **options) -> tuple[Path, Path]:
    """A study package built from fresh small datasets; returns (package, key file)."""
    real = make_dataset(tmp / "real", n_real, "real", seed=1)
    synthetic = make_dataset(tmp / "synthetic", n_synthetic, "synthetic", seed=2)
    options.setdefault("seed", 7)
    result = create_package(real, synthetic, tmp / "package", tmp / "key.json", CreateOptions(**options))
    return result.package, result.key


def make_stub_package(root: Path, n_cases: int, settings: Settings = Settings(), readers=()) -> Path:
    """A package whose case files are empty placeholders: enough for journals and sessions."""
    ids = sorted(f"{i:08x}" for i in range(n_cases))
    manifest = Manifest(
        package_id="0123456789abcdef0123456789abcdef",
        pathology="glioma",
        contrasts=CONTRASTS,
        dtype="int16",
        intensity_range=(0.0, 1000.0),
        settings=settings,
        readers=tuple(readers),
        cases=tuple(CaseEntry(i, {c: case_file_path(i, c) for c in CONTRASTS}) for i in ids),
    )
    for case in manifest.cases:
        for relative in case.files.values():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).touch()
    (root / "readers").mkdir(parents=True, exist_ok=True)
    write_manifest(root, manifest)
    return root
