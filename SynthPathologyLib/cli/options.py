"""Command-line option types and option groups shared by the ``synthpathology`` verbs."""

from __future__ import annotations

import argparse

from ..core.errors import SynthPathologyError
from ..core.image_io import ras_to_lps
from ..lesions.spec import Composition, LesionSpec


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


def add_lesion_options(parser: argparse.ArgumentParser) -> None:
    """Seed, size, orientation and composition options shared by commands that place a lesion."""
    parser.add_argument("--seed-ras", type=triple, required=True, metavar="X,Y,Z",
                        help="lesion center in RAS mm, as Slicer shows it (write --seed-ras=-26,-12,28 "
                             "when X is negative)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--diameter", type=float, metavar="D", help="tumor-core diameter in mm")
    size.add_argument("--diameters", type=triple, metavar="A,B,C",
                      help="tumor-core diameters in mm along the lesion axes")
    parser.add_argument("--orientation", type=triple, default=(0.0, 0.0, 0.0), metavar="RX,RY,RZ",
                        help="rotation of the lesion axes about x, y, z in degrees (default 0,0,0)")
    parser.add_argument("--edema-mm", type=float, default=8.0, help="edema extent beyond the core in mm (default 8)")
    parser.add_argument("--necrosis", type=float, default=0.3, help="necrotic fraction of the core, 0-0.9 (default 0.3)")
    parser.add_argument("--rim-mm", type=float, default=3.0, help="enhancing rim thickness in mm (default 3)")
    parser.add_argument("--irregularity", type=float, default=Composition.irregularity,
                        help=f"lobes and clefts of the core surface, 0 (ellipsoid) to 1 "
                             f"(default {Composition.irregularity:g})")
    parser.add_argument("--random-seed", type=random_seed, default=0,
                        help="random seed of the lesion shape, 0 or more (default 0)")


def lesion_spec_from_args(args: argparse.Namespace, pathology: str = "glioma") -> LesionSpec:
    """The :class:`LesionSpec` described by :func:`add_lesion_options`' options."""
    if args.diameters is None and args.diameter is None:
        raise SynthPathologyError("give the lesion's size: --diameter D or --diameters A,B,C")
    diameters = args.diameters if args.diameters is not None else (args.diameter,) * 3
    return LesionSpec(
        center_lps=ras_to_lps(args.seed_ras),
        diameters_mm=diameters,
        orientation_deg=args.orientation,
        composition=Composition(edema_extent_mm=args.edema_mm, necrosis_fraction=args.necrosis,
                                rim_thickness_mm=args.rim_mm, irregularity=args.irregularity),
        pathology=pathology,
        random_seed=args.random_seed,
    )


def add_resample_option(parser: argparse.ArgumentParser) -> None:
    """``--resample``: accept a case whose images lie on different grids by resampling them onto
    the first contrast's grid (refused otherwise)."""
    parser.add_argument("--resample", action="store_true",
                        help="resample contrasts on other grids onto the first contrast's grid")


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``: where networks run."""
    parser.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu or cuda[:N]")


def add_pathology_option(parser: argparse.ArgumentParser) -> None:
    """``--pathology``: the registered pathology asked for; a ``--model`` of another is refused."""
    parser.add_argument("--pathology", metavar="NAME",
                        help="registered pathology (see `synthpathology pathologies`); a --model of another is "
                             "refused (default: the --model's, else glioma)")


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` (a generator model folder) and ``--device``."""
    parser.add_argument("--model", help="generator model folder (default: the pathology's shipped model)")
    add_device_option(parser)
