"""``evaluate repaint``: synthetic counterparts of real cases, for the paired and diversity metrics.

Each real case's own lesion is painted again from its label into the same case, with ``variants``
random seeds: the real image is the ground truth of every variant (paired metrics), and the
variants of one case differ only by the generator's noise (diversity).
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from ..io.brats import write_brats_case
from ..synthesis.synthesizer import Synthesizer
from .datasets import PROVENANCE_FILE, case_folders, read_evaluation_case


def repaint_dataset(real_root: str | Path, out: str | Path, synthesizer: Synthesizer, variants: int = 1,
                    naming: str = "2023", progress: bool = True) -> list[Path]:
    """Write ``<case>-repaint<k>`` folders (BraTS layout + provenance.json) under ``out``."""
    written = []
    contrasts = tuple(synthesizer.card.contrasts)
    for folder in tqdm(case_folders(real_root, "real"), desc="repainting", unit="case", disable=not progress):
        prepared = synthesizer.prepare(read_evaluation_case(folder, contrasts, "real"))
        for variant in range(variants):
            result = synthesizer.synthesize(prepared, prepared.case.label, random_seed=variant)
            result.case.case_id = f"{prepared.case.case_id}-repaint{variant:02d}"
            target = write_brats_case(result.case, Path(out) / result.case.case_id, naming)
            (target / PROVENANCE_FILE).write_text(json.dumps(result.provenance, indent=2) + "\n", encoding="utf-8")
            written.append(target)
    return written
