"""The cases the generator's commands read, insert lesions into and write: ``--case`` as one case or
a dataset, each read with the contrasts the model needs, and written with ``--naming`` and the
provenance (shared by :mod:`.synthesis`, :mod:`.augment` and :mod:`.inpaint`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm


def case_folders(path: str, command: str) -> list[Path]:
    """The case folders ``--case`` names (a case or a dataset), saying so when it is a dataset."""
    from ..io.brats import case_or_dataset

    folders = case_or_dataset(path)
    if len(folders) > 1 or Path(path) != folders[0]:
        print(f"{command}: {path} is a dataset of {len(folders)} case(s); each gets its own output case")
    return folders


def run_cases(folders: list[Path], writer, work) -> int:
    """``work(folder)`` for each case folder; with several, a case that fails is reported and
    skipped instead of ending the run. Returns the writer's exit status."""
    from ..core.errors import SynthPathologyError

    for folder in tqdm(folders, desc=writer.report.command, unit="case", disable=len(folders) == 1):
        try:
            work(folder)
        except SynthPathologyError as exc:
            if len(folders) == 1:
                raise
            writer.skip(folder.name, str(exc))
    return writer.finish()


def read_case(folder: Path, synthesizer, args: argparse.Namespace, **options):
    """A case of ``folder`` with the contrasts the model needs: all of its contrasts, or for a
    generator with availability channels whichever it holds (the synthesizer refuses none)."""
    from ..io.brats import read_brats_case

    required = () if synthesizer.card.network_config().any_contrasts else tuple(synthesizer.card.contrasts)
    return read_brats_case(folder, contrasts=required, resample=args.resample, **options)


def insert(synthesizer, prepared, lesion, args: argparse.Namespace, random_seed: int | None = None,
           described: dict | None = None):
    """:func:`~SynthPathologyLib.synthesis.insertion.insert_lesion` with ``--mass-effect`` and ``--gap-mm``."""
    from ..synthesis.insertion import insert_lesion

    return insert_lesion(synthesizer, prepared, lesion, random_seed=random_seed, mass_effect_mm=args.mass_effect,
                         gap_mm=args.gap_mm, described=described)


def write_result(writer, result, args: argparse.Namespace, folder: Path, **extra) -> Path:
    """Write ``result`` with :func:`output_files`' naming and documents."""
    return writer.write(result.case, *output_files(result, args, folder, **extra))


def output_files(result, args: argparse.Namespace, folder: Path, **extra) -> tuple[str, dict[str, dict]]:
    """The naming ``result`` is written with (``--naming``, default: the source case's) and its
    documents: the provenance plus ``extra``."""
    from ..io.brats import naming_of

    return args.naming or naming_of(folder), {"provenance.json": {**result.provenance, **extra}}
