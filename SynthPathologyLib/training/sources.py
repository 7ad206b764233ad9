"""Where training cases come from: the ``--data`` dataset (split into training and held-out cases)
and further real datasets, normalized once into the on-disk cache of :mod:`.case_cache`.

A cached case (:class:`~.case_cache.CachedCase`) reads its normalized contrasts (C, z, y, x) float32,
its label (z, y, x), brain and ``avoid`` masks (z, y, x bool) a window at a time; ``avoid`` marks
tissue that is not healthy (the label's lesion, and a ``<case>-lesion`` mask when the case has
one, e.g. multiple sclerosis lesions), which healthy-inpainting masks stay clear of.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ..core.errors import CaseError
from ..io.brats import find_brats_cases
from .case_cache import CachedCase, cached_case, remove_stale_partials


def split_cases(data: str | Path, validation_cases: int,
                exclude: Sequence[str] = ()) -> tuple[list[Path], list[Path]]:
    """Training and held-out case folders of a BraTS-layout dataset (the last ones held out), without
    the case ids in ``exclude``."""
    folders = [f for f in find_brats_cases(data) if f.name not in set(exclude)]
    if not folders:
        raise CaseError(f"{data}: no BraTS case folders found; nothing to train on")
    if len(folders) <= validation_cases:
        raise CaseError(f"{data}: {len(folders)} case(s) cannot spare {validation_cases} for validation")
    return folders[: len(folders) - validation_cases], folders[len(folders) - validation_cases:]


def real_case_folders(datasets: Sequence[str | Path], exclude: Sequence[str] = ()) -> list[Path]:
    """The case folders of the ``real_data`` datasets, without the case ids in ``exclude``."""
    folders = []
    for dataset in datasets:
        found = [f for f in find_brats_cases(dataset) if f.name not in set(exclude)]
        if not found:
            raise CaseError(f"real_data {dataset}: no BraTS case folders found (after excluding {list(exclude)})")
        folders += found
    return folders


def cached_cases(folders: Sequence[Path], contrasts: Sequence[str], cache: Path, progress: bool = True,
                 require_label: bool = True) -> list[CachedCase]:
    """Every case in the cache folder ``cache``, normalized there first when it is new or has
    changed; a case's problem raises its own clear error."""
    remove_stale_partials(cache)
    return [cached_case(folder, contrasts, cache, require_label)
            for folder in tqdm(folders, desc="caching cases", unit="case", disable=not progress)]
