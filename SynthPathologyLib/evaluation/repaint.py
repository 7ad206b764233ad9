"""``evaluate repaint``: synthetic counterparts of real cases, for the paired and diversity metrics.

Each real case's own lesion is painted again from its label into the same case, with ``variants``
random seeds: the real image is the ground truth of every variant (paired metrics), and the
variants of one case differ only by the generator's noise (diversity).
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from ..core.errors import SynthPathologyError
from ..io.dataset_writer import DatasetWriter
from ..synthesis.synthesizer import Synthesizer
from .datasets import PROVENANCE_FILE, case_folders, read_evaluation_case
from .errors import EvaluationError


def repaint_dataset(real_root: str | Path, out: str | Path, synthesizer: Synthesizer, variants: int = 1,
                    naming: str = "2023", progress: bool = True) -> list[Path]:
    """Write ``<case>-repaint<k>`` folders (BraTS layout + provenance.json) under ``out``, a dataset
    (:class:`~SynthPathologyLib.io.dataset_writer.DatasetWriter`: folders appear whole, a re-run
    continues, a case that fails is skipped and listed in ``report.json``). Returns the dataset's
    case folders.

    Raises:
        EvaluationError: no case could be repainted.
    """
    writer = DatasetWriter(out, "evaluate repaint")
    # A generator with availability channels repaints whatever subset a case holds (provenance.json
    # names it); an older one needs every contrast it was trained on.
    contrasts = () if synthesizer.card.network_config().any_contrasts else tuple(synthesizer.card.contrasts)
    for folder in tqdm(case_folders(real_root, "real"), desc="repainting", unit="case", disable=not progress):
        ids = [f"{folder.name}-repaint{variant:02d}" for variant in range(variants)]
        if all(writer.done(i) for i in ids):
            continue
        try:
            prepared = synthesizer.prepare(read_evaluation_case(folder, contrasts, "real"))
            for variant, case_id in enumerate(ids):
                if writer.done(case_id):
                    continue
                result = synthesizer.synthesize(prepared, prepared.case.label, random_seed=variant)
                result.case.case_id = case_id
                writer.write(result.case, naming, {PROVENANCE_FILE: result.provenance})
        except SynthPathologyError as exc:
            writer.skip(folder.name, str(exc))
    if writer.finish() != 0:
        raise EvaluationError(f"{real_root}: no case could be repainted (see {writer.out / 'report.json'})")
    return [writer.out / case_id for case_id in writer.report.written]
