"""Command-line option types, option groups and sub-command helpers shared by the ``synthpathology``
verbs."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.errors import SynthPathologyError
from ..core.image_io import ras_to_lps
from ..lesions.existing import DEFAULT_GAP_MM
from ..lesions.spec import Composition, LesionSpec
from ..pathologies import Pathology, get_pathology, pathology_names

if TYPE_CHECKING:
    from ..synthesis.synthesizer import Synthesizer


def add_command(commands: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int],
                help: str) -> argparse.ArgumentParser:
    """The sub-command ``name`` of ``commands``, run by ``run``: ``help`` is its line in the list of
    commands and ``run``'s docstring its description (as in click), so what a command does is said
    once, beside the code that does it."""
    parser = commands.add_parser(name, help=help, description=inspect.getdoc(run))
    parser.set_defaults(run=run)
    return parser


def add_command_group(commands: argparse._SubParsersAction, name: str, dest: str, metavar: str,
                      **texts: str) -> argparse._SubParsersAction:
    """The sub-command ``name`` of ``commands`` that only groups sub-commands of its own: add them to
    the returned action (the chosen one's name lands in ``args.<dest>``)."""
    return commands.add_parser(name, **texts).add_subparsers(dest=dest, required=True, metavar=metavar)


def triple(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}")
    return values  # type: ignore[return-value]


MAX_RANDOM_SEED = 2**31 - 1


def random_seed(text: str) -> int:
    """A random seed: a whole number from 0 to :data:`MAX_RANDOM_SEED`."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_RANDOM_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_RANDOM_SEED}, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def by_pathology(value_of: Callable[[Pathology], object]) -> str:
    """``value_of`` each registered pathology, for a help text: "glioma 8, metastasis 12, ms 0"."""
    return ", ".join(f"{name} {value_of(get_pathology(name))}" for name in pathology_names())


def lesions_per_case_defaults() -> str:
    """Each pathology's ``lesions_per_case``, for a help text: "glioma 1-1, metastasis 1-3, ms 4-20"."""
    return by_pathology(lambda pathology: "{}-{}".format(*pathology.lesions_per_case))


def _composition_default(name: str) -> str:
    """Each pathology's default of the :class:`Composition` field ``name``, for a help text."""
    def value(pathology: Pathology) -> str:
        default = getattr(Composition.for_pathology(pathology.name), name)
        return ("yes" if default else "no") if isinstance(default, bool) else f"{default:g}"
    return by_pathology(value)


def add_seed_option(container: argparse._ActionsContainer, several: bool = False) -> None:
    """``--seed-ras``: where the lesion goes; with ``several``, repeated for one lesion per seed (a
    list, None when not given: the caller's mutually exclusive group decides whether it is needed)."""
    text = "lesion center in RAS mm, as Slicer shows it (write --seed-ras=-26,-12,28 when X is negative)"
    if several:
        container.add_argument("--seed-ras", type=triple, action="append", metavar="X,Y,Z",
                               help=f"{text}; repeat it for one lesion per seed")
    else:
        container.add_argument("--seed-ras", type=triple, required=True, metavar="X,Y,Z", help=text)


def add_lesion_options(parser: argparse.ArgumentParser,
                       random_seed_help: str = "random seed of the lesion shape, 0 or more (default 0)") -> None:
    """Size, orientation, composition and random-seed options shared by commands that place a lesion
    at a seed (:func:`add_seed_option`); the composition defaults to the pathology's."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--diameter", type=float, metavar="D", help="tumor-core diameter in mm")
    size.add_argument("--diameters", type=triple, metavar="A,B,C",
                      help="tumor-core diameters in mm along the lesion axes")
    parser.add_argument("--orientation", type=triple, metavar="RX,RY,RZ",
                        help="rotation of the lesion axes about x, y, z in degrees (default 0,0,0)")
    # None: the pathology's own default (Composition.for_pathology), known once the model is loaded.
    parser.add_argument("--edema-mm", type=float, help=f"edema extent beyond the core in mm (default: the "
                                                       f"pathology's; {_composition_default('edema_extent_mm')})")
    parser.add_argument("--necrosis", type=float, help=f"necrotic fraction of the core, 0-0.9 (default: the "
                                                       f"pathology's; {_composition_default('necrosis_fraction')})")
    parser.add_argument("--rim-mm", type=float, help=f"enhancing rim thickness in mm (default: the pathology's; "
                                                     f"{_composition_default('rim_thickness_mm')})")
    parser.add_argument("--irregularity", type=float,
                        help=f"lobes and clefts of the core surface, 0 (ellipsoid) to 1 (default: the pathology's; "
                             f"{_composition_default('irregularity')})")
    parser.add_argument("--enhancing", choices=("yes", "no"),
                        help=f"whether the lesion takes up gadolinium: an enhancing rim or solid core, an active MS "
                             f"plaque (default: the pathology's; {_composition_default('enhancing')})")
    add_random_seed_option(parser, help=random_seed_help)


# add_lesion_options' options that describe a lesion at a seed (argparse dests).
LESION_AT_SEED_OPTIONS = ("diameter", "diameters", "orientation", "edema_mm", "necrosis", "rim_mm", "irregularity",
                          "enhancing")


def add_random_seed_option(parser: argparse.ArgumentParser, flag: str = "--random-seed",
                           help: str = "random seed (default 0)") -> None:
    """``--random-seed`` (or ``flag``): a :func:`random_seed`, 0 by default."""
    parser.add_argument(flag, type=random_seed, default=0, help=help)


def given_options(args: argparse.Namespace, *dests: str) -> list[str]:
    """The flags (``--edema-mm``) of the options among ``dests`` that the command line gave (not None)."""
    return ["--" + dest.replace("_", "-") for dest in dests if getattr(args, dest, None) is not None]


def lesion_specs_from_args(args: argparse.Namespace, pathology: str = "glioma") -> list[LesionSpec]:
    """The :class:`LesionSpec` of each ``--seed-ras`` (one, or a list of them) described by
    :func:`add_lesion_options`' options, the pathology's composition where they say nothing; the
    lesion at the k-th seed takes ``--random-seed`` + k - 1."""
    if args.diameters is None and args.diameter is None:
        raise SynthPathologyError("give the lesion's size: --diameter D or --diameters A,B,C")
    diameters = args.diameters if args.diameters is not None else (args.diameter,) * 3
    composition = Composition.for_pathology(
        pathology, edema_extent_mm=args.edema_mm, necrosis_fraction=args.necrosis, rim_thickness_mm=args.rim_mm,
        irregularity=args.irregularity, enhancing=None if args.enhancing is None else args.enhancing == "yes")
    seeds = args.seed_ras if isinstance(args.seed_ras, list) else [args.seed_ras]
    return [LesionSpec(center_lps=ras_to_lps(seed), diameters_mm=diameters, orientation_deg=orientation_of(args),
                       composition=composition, pathology=pathology, random_seed=args.random_seed + k)
            for k, seed in enumerate(seeds)]


def orientation_of(args: argparse.Namespace) -> tuple[float, float, float]:
    """``--orientation``, 0,0,0 when not given."""
    return args.orientation if args.orientation is not None else (0.0, 0.0, 0.0)


class DiameterRange(argparse.Action):
    """``--diameter-range MIN MAX``: a (MIN, MAX) tuple with 0 < MIN <= MAX, else refused by the parser."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        low, high = values
        if not 0 < low <= high:
            raise argparse.ArgumentError(self, f"needs 0 < MIN <= MAX (mm), got {low:g} {high:g}")
        setattr(namespace, self.dest, (low, high))


def add_diameter_range_option(parser: argparse.ArgumentParser, used_with: str) -> None:
    """``--diameter-range MIN MAX`` of randomly drawn lesions (None: the pathology's ``diameter_range_mm``)."""
    parser.add_argument("--diameter-range", type=float, nargs=2, action=DiameterRange, metavar=("MIN", "MAX"),
                        help=f"tumor-core diameter range in mm of {used_with} (default: the pathology's; "
                             f"{by_pathology(lambda p: '{:g} {:g}'.format(*p.diameter_range_mm))})")


def diameter_range_of(args: argparse.Namespace, pathology: str) -> tuple[float, float]:
    """``--diameter-range``, else ``pathology``'s range."""
    return tuple(args.diameter_range or get_pathology(pathology).diameter_range_mm)  # type: ignore[return-value]


def add_lesion_load_option(container: argparse._ActionsContainer, instead_of: str) -> None:
    """``--lesion-load ML``: random lesions until their cores reach ML ml in all."""
    container.add_argument("--lesion-load", type=positive_float, metavar="ML",
                           help=f"random lesions until their cores total ML ml (the last may pass it; natural for "
                                f"MS), instead of {instead_of}")


def add_resample_option(parser: argparse.ArgumentParser) -> None:
    """``--resample``: accept a case whose images lie on different grids by resampling them onto
    the first contrast's grid (refused otherwise)."""
    parser.add_argument("--resample", action="store_true",
                        help="resample contrasts on other grids onto the first contrast's grid")


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``: where networks run."""
    parser.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu or cuda[:N]")


def add_pathology_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--pathology``: the registered pathology asked for; a ``--model`` of another is refused.
    With ``default`` (a command that runs no model) that pathology when not given."""
    if default is not None:
        parser.add_argument("--pathology", metavar="NAME", default=default,
                            help=f"registered pathology (see `synthpathology pathologies`; default {default})")
        return
    parser.add_argument("--pathology", metavar="NAME",
                        help="registered pathology (see `synthpathology pathologies`); a --model of another is "
                             "refused (default: the --model's, else glioma)")


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` (a generator model folder) and ``--device``."""
    parser.add_argument("--model", help="generator model folder (default: the pathology's shipped model)")
    add_device_option(parser)


def add_synthesizer_options(parser: argparse.ArgumentParser) -> None:
    """:func:`add_generator_options` and :func:`add_pathology_option`: what
    :func:`synthesizer_from_args` reads."""
    add_generator_options(parser)
    add_pathology_option(parser)


def synthesizer_from_args(args: argparse.Namespace) -> Synthesizer:
    """The synthesizer of ``--model`` (default: ``--pathology``'s model) on ``--device``, refused if its
    model is not for ``--pathology`` or ``--mass-effect`` does not apply to the pathology."""
    from ..lesions.mass_effect import check_mass_effect
    from ..synthesis.synthesizer import Synthesizer  # torch: loaded by the commands that run a model only

    synthesizer = Synthesizer(args.model, device=args.device, pathology=args.pathology)
    check_mass_effect(getattr(args, "mass_effect", 0.0), synthesizer.card.pathology)  # before any case is read
    return synthesizer


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The options of a command that runs the generator on BraTS cases: :func:`add_synthesizer_options`,
    ``--naming`` of the output and :func:`add_resample_option`."""
    add_synthesizer_options(parser)
    parser.add_argument("--naming", choices=("2021", "2023"),
                        help="BraTS file naming and ET value of the output (default: the input case's)")
    add_resample_option(parser)


def add_insertion_options(parser: argparse.ArgumentParser) -> None:
    """``--gap-mm`` and ``--mass-effect``: how a new lesion goes in beside the case's own lesions and
    how it pushes the tissue around it."""
    parser.add_argument("--gap-mm", type=float, default=DEFAULT_GAP_MM,
                        help=f"keep the new lesion (edema included) this far from the case's existing lesions; their "
                             f"labels are kept in the output segmentation (default {DEFAULT_GAP_MM:g})")
    parser.add_argument("--mass-effect", type=float, default=0.0, metavar="MM",
                        help="push the surrounding tissue (every contrast and the label) MM mm away from the new "
                             "tumour at its edge, fading to nothing within 5 x MM (at least 10 mm); beyond that "
                             "every voxel is unchanged (default 0: none)")


def add_dataset_out_option(parser: argparse.ArgumentParser) -> None:
    """``--out``: the dataset folder a command writes its output cases into."""
    parser.add_argument("--out", required=True,
                        help="output dataset folder: one case folder per output case (appearing whole), and "
                             "report.json; a re-run into it continues where it stopped")
