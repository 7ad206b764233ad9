"""``synthpathology inpaint``: healthy tissue into any mask of a case, in whichever contrasts it holds.

The case is a BraTS case folder with any non-empty subset of T1, T1c, T2 and FLAIR, or a BraTS 2023
inpainting case: ``<case>-t1n-voided.nii.gz`` (T1 with the region to fill set to 0; the other
contrasts' ``-voided`` files are read too when present). The output is a case folder
``<case>-inpainted`` in the ``--out`` dataset folder (``provenance.json`` names the contrasts used;
``--naming`` as the other synthesis commands). ``synthpathology remove`` is the same fill with the
case's lesion as the mask.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cases import write_result
from .options import add_command, add_model_options, synthesizer_from_args

VOIDED_SUFFIX = "-voided"


def read_inpainting_case(folder: Path, resample: bool = False):
    """The case of ``folder``: its ``-voided`` images when it is a BraTS 2023 inpainting case (BraTS
    2023 contrast names), else its BraTS images, whichever contrasts it holds."""
    from ..core.case import Case
    from ..core.image_io import read_image, resample_like
    from ..io.brats import NAMINGS, read_brats_case

    folder = Path(folder)
    names = NAMINGS["2023"]
    voided = {}
    for contrast in names.suffixes:
        found = sorted(folder.glob(f"{names.file_name(folder.name, contrast)[:-len('.nii.gz')]}{VOIDED_SUFFIX}.nii*"))
        if found:
            voided[contrast] = read_image(found[0])
    if not voided:
        return read_brats_case(folder, contrasts=(), resample=resample)
    if resample:
        reference = next(iter(voided.values()))
        voided = {c: resample_like(image, reference) for c, image in voided.items()}
    return Case(voided, case_id=folder.name, sources={c: str(folder) for c in voided})


def cmd_inpaint(args: argparse.Namespace) -> int:
    """Inpaint healthy brain tissue into every voxel of a mask, in whichever of the model's contrasts
    the case holds (BraTS 2023 inpainting: a case folder with <case>-t1n-voided.nii.gz). Voxels
    outside the mask are kept bit for bit."""
    from ..core.image_io import read_image
    from ..io.dataset_writer import DatasetWriter

    synthesizer = synthesizer_from_args(args)
    case = read_inpainting_case(Path(args.case), args.resample)
    result = synthesizer.inpaint(case, read_image(args.mask), random_seed=args.random_seed)
    result.case.case_id = f"{case.case_id}-inpainted"
    writer = DatasetWriter(args.out, "inpaint")
    folder = write_result(writer, result, args, args.case, mask=str(args.mask))
    print(f"inpainted {int(result.region_in_box.sum())} voxels of {', '.join(result.provenance['contrasts'])} "
          f"in {sum(result.timings_s.values()):.2f} s; wrote {folder}")
    return writer.finish()


def add_inpaint_command(commands: argparse._SubParsersAction) -> None:
    """Add ``inpaint`` to the top-level sub-command parser."""
    parser = add_command(commands, "inpaint", cmd_inpaint,
                         help="fill a mask of a case with healthy tissue (any subset of T1, T1c, T2, FLAIR)")
    parser.add_argument("--case", required=True, help="BraTS case folder (or BraTS 2023 inpainting case folder)")
    parser.add_argument("--mask", required=True, help="mask image on the case's grid (non-zero voxels are filled)")
    parser.add_argument("--out", required=True, help="output dataset folder (gets <case>-inpainted/)")
    parser.add_argument("--random-seed", type=int, default=0, help="random seed (default 0)")
    add_model_options(parser)
