"""A label library for the front ends' tests: a phantom glioma's segmentation as a library file."""

from __future__ import annotations

from pathlib import Path

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.image_io import write_image
from SynthPathologyLib.io.brats import NAMINGS

LIBRARY_FILE = "Phantom-tumor_seg.nii.gz"


def write_library(case: Case, folder: Path) -> Path:
    """Write ``case``'s lesion label into ``folder`` as the library file :data:`LIBRARY_FILE`, with
    BraTS 2021 values (ET = 4), as a user's library would hold it; returns the file."""
    path = Path(folder) / LIBRARY_FILE
    write_image(NAMINGS["2021"].to_file(case.label), path)
    return path
