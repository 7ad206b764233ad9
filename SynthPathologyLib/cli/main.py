"""The ``synthpathology`` command line.

User errors (bad files, refused seeds) exit with status 2 and a one-line message on stderr;
Ctrl-C exits with 130. Long work shows a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .. import __version__
from ..core.errors import SynthPathologyError
from .app import add_app_command
from .evaluation import add_evaluation_commands
from .inpaint import add_inpaint_command
from .options import (
    add_command,
    add_lesion_options,
    add_pathology_option,
    add_random_seed_option,
    add_resample_option,
    add_seed_option,
    lesion_specs_from_args,
    lesions_per_case_defaults,
    positive_int,
)
from .pathologies import add_pathologies_command
from .synthesis import add_synthesis_commands
from .training import add_training_command
from .turing import add_turing_commands

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def cmd_phantom(args: argparse.Namespace) -> int:
    """Simulate multi-contrast brain MRI cases with or without lesions of a pathology (gliomas by
    default; metastases, MS plaques), from the built-in MNI152 brain or from your own skull-stripped
    T1 and brain mask."""
    from ..io.dataset_writer import DatasetWriter
    from ..phantom.dataset import write_phantom_dataset
    from ..phantom.default_brain import load_brain, load_default_brain
    from ..phantom.generator import PhantomOptions

    if (args.t1 is None) != (args.mask is None):
        raise SynthPathologyError("--t1 and --mask go together: give both or neither")
    if args.lesions is not None and args.healthy:
        raise SynthPathologyError("--healthy cases hold no lesion: give --lesions or --healthy, not both")
    if args.lesions is not None and args.lesions[0] > args.lesions[1]:
        raise SynthPathologyError(f"--lesions needs MIN <= MAX, got {args.lesions[0]} {args.lesions[1]}")
    options = PhantomOptions(resolution_mm=float(args.resolution), healthy=args.healthy, pathology=args.pathology,
                             lesion_count=None if args.lesions is None else tuple(args.lesions))
    brain = load_brain(args.t1, args.mask) if args.t1 else load_default_brain(options.resolution_mm)
    writer = DatasetWriter(args.out, "phantom")
    write_phantom_dataset(Path(args.out), args.cases, args.seed, options, brain=brain, naming=args.naming,
                          workers=args.workers, writer=writer)
    return writer.finish()


def cmd_lesion(args: argparse.Namespace) -> int:
    """Generate a lesion label map of a pathology (glioma: NCR, ED, ET) around a seed point on a case's
    grid. Edema follows the white matter estimated from the case's T1."""
    from ..core.image_io import write_image
    from ..io.brats import NAMINGS, naming_of, read_brats_case
    from ..io.info import format_label_volumes
    from ..lesions.placement import generate_lesion
    from ..phantom.atlas import estimate_tissue_maps_with_priors

    case = read_brats_case(args.case, contrasts=("t1",), resample=args.resample)
    [spec] = lesion_specs_from_args(args, args.pathology)
    mask = case.mask()
    white_matter = estimate_tissue_maps_with_priors(case.images["t1"], mask).wm
    label = generate_lesion(spec, case.reference, mask, white_matter)
    write_image(NAMINGS[args.naming or naming_of(args.case)].to_file(label), args.out)
    print(f"wrote {args.out}: {format_label_volumes(label, spec.pathology)}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print contrasts, grid, spacing, labels and label volumes of an image file, a BraTS case folder or
    a dataset folder of cases."""
    from ..io.info import describe_path

    for line in describe_path(Path(args.path)):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthpathology",
        description="Synthesize 3D brain MRI with pathology: phantoms, lesions, synthesis, reading studies.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    phantom = add_command(commands, "phantom", cmd_phantom,
                          help="write BraTS-layout phantom cases (T1, T1c, T2, FLAIR + label)")
    phantom.add_argument("--cases", type=positive_int, required=True, help="number of cases")
    phantom.add_argument("--out", required=True,
                         help="output dataset folder (case folders appear whole; a re-run continues; report.json)")
    add_random_seed_option(phantom, "--seed")
    phantom.add_argument("--healthy", action="store_true", help="no lesion (empty labels)")
    add_pathology_option(phantom, default="glioma")
    phantom.add_argument("--lesions", type=positive_int, nargs=2, metavar=("MIN", "MAX"),
                         help=f"lesions per case, drawn in MIN-MAX (default: the pathology's; "
                              f"{lesions_per_case_defaults()})")
    phantom.add_argument("--resolution", type=int, choices=(1, 2), default=1, help="voxel size in mm (default 1)")
    phantom.add_argument("--t1", help="skull-stripped T1 to build the phantom from (with --mask)")
    phantom.add_argument("--mask", help="brain mask of --t1")
    phantom.add_argument("--naming", choices=("2021", "2023"), default="2023", help="BraTS file naming (default 2023)")
    phantom.add_argument("--workers", type=positive_int, default=1,
                         help="cases drawn in parallel processes (default 1); the cases do not depend on it")

    lesion = add_command(commands, "lesion", cmd_lesion,
                         help="write a lesion label map placed at a seed on a case's grid")
    lesion.add_argument("--case", required=True, help="BraTS case folder (needs at least the T1)")
    add_seed_option(lesion)
    add_lesion_options(lesion)
    add_pathology_option(lesion, default="glioma")
    add_resample_option(lesion)
    lesion.add_argument("--out", required=True, help="output label file (.nii.gz, .nrrd, .mha)")
    lesion.add_argument("--naming", choices=("2021", "2023"),
                        help="label values of the output: 2023 (ET=3) or 2021 (ET=4); default: the case's naming")

    info = add_command(commands, "info", cmd_info, help="summarize an image, a case folder or a dataset")
    info.add_argument("path", help="image file, DICOM folder, case folder or dataset folder")

    add_pathologies_command(commands)
    add_synthesis_commands(commands)
    add_inpaint_command(commands)
    add_turing_commands(commands)
    add_training_command(commands)
    add_evaluation_commands(commands)
    add_app_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["synthpathology", *argv])  # what trained models record in their cards
    import SimpleITK as sitk

    # ITK's reader warnings (e.g. about sform scales) are not actionable for a command-line user.
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        return args.run(args)
    except SynthPathologyError as exc:
        print(f"synthpathology {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"synthpathology {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
