"""The cases the generator's commands read, insert lesions into and write: ``--case`` as one case or
a dataset, each read with the contrasts the model needs, and written with ``--naming`` and the
provenance (shared by :mod:`.synthesis`, :mod:`.augment` and :mod:`.inpaint`); the lesions inserted,
one or several."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

if TYPE_CHECKING:
    import SimpleITK as sitk


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


@dataclass
class Lesions:
    """The lesions of one output case, inserted in this order by :func:`insert`: label maps on the
    case's grid, and per lesion the generator's random seed and what provenance says of it."""

    labels: list[sitk.Image]
    random_seeds: list[int]
    described: list[dict]


def insert(synthesizer, prepared, lesions: Lesions, args: argparse.Namespace):
    """:func:`~SynthPathologyLib.synthesis.insertion.insert_lesions` with ``--mass-effect`` and
    ``--gap-mm``: provenance lists the lesions."""
    from ..synthesis.insertion import insert_lesions

    return insert_lesions(synthesizer, prepared, lesions.labels, random_seeds=lesions.random_seeds,
                          mass_effect_mm=args.mass_effect, gap_mm=args.gap_mm, described=lesions.described)


def draw_lesions(synthesizer, prepared, csf, rng, diameter_range: tuple[float, float], args: argparse.Namespace,
                 case_id: str, count: int = 1, load_ml: float | None = None,
                 ) -> tuple[Lesions, list[tuple[float, float]]]:
    """``count`` random plausible lesions of the model's pathology, or as many as ``load_ml`` ml of
    core takes, in the room ``prepared`` leaves (away from the case's lesions, out of ``csf``; see
    :func:`~SynthPathologyLib.lesions.sampling.draw_fitting_lesions`), each ``--gap-mm`` from the
    others; says so when the brain holds fewer. Returns them and the diameter range each came from."""
    from ..core.errors import CaseError
    from ..lesions.placement import kept_core
    from ..lesions.sampling import draw_fitting_lesions

    if prepared.white_matter is None:
        raise CaseError(f"case {prepared.case.case_id} has no T1: random lesions go where the white matter "
                        "estimated from it says they grow")
    drawn = draw_fitting_lesions(prepared.mask, prepared.white_matter, csf, rng, diameter_range,
                                 synthesizer.card.pathology, count=count, load_ml=load_ml, gap_mm=args.gap_mm)
    core_ml = sum(kept_core(label, spec)[0] for spec, label, _ in drawn) / 1000
    if load_ml is not None and core_ml < load_ml:
        print(f"{case_id}: room for {core_ml:.1f} ml of the {load_ml:g} ml lesion load ({len(drawn)} lesion(s))")
    elif load_ml is None and len(drawn) < count:
        print(f"{case_id}: room for {len(drawn)} of the {count} lesions")
    lesions = Lesions([label for _, label, _ in drawn], [spec.random_seed for spec, _, _ in drawn],
                      [spec.to_dict() for spec, _, _ in drawn])
    return lesions, [sizes for _, _, sizes in drawn]


def write_result(writer, result, args: argparse.Namespace, folder: Path, **extra) -> Path:
    """Write ``result`` with :func:`output_files`' naming and documents."""
    return writer.write(result.case, *output_files(result, args, folder, **extra))


def output_files(result, args: argparse.Namespace, folder: Path, **extra) -> tuple[str, dict[str, dict]]:
    """The naming ``result`` is written with (``--naming``, default: the source case's) and its
    documents: the provenance plus ``extra``."""
    from ..io.brats import naming_of

    return args.naming or naming_of(folder), {"provenance.json": {**result.provenance, **extra}}
