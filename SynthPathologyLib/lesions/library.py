"""The label library: lesion shapes taken from real segmentations (the CarveMix / TumorCP idea, with the
generator painting the tissue instead of pasting voxels).

A library is a folder of segmentation files (any grid; BraTS 2021 values 1/2/4 or 2023 values
1/2/3, told apart by their values), searched recursively; symbolic links leading out of it are
ignored. A library lesion is placed at a plausible site of the target brain (drawn as
:func:`~SynthPathologyLib.lesions.sampling.random_lesion_spec` draws a seed for a lesion of its
size) with a random rotation (uniform angles about x, y, z) and scale (``SCALE_RANGE``), resampled
with nearest neighbour (:func:`~SynthPathologyLib.lesions.placement.place_label_map`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import CaseError, LesionPlacementError
from ..core.image_io import image_suffix, read_image
from ..io.brats import NAMINGS
from ..pathologies import get_pathology
from .placement import place_label_map
from .sampling import MAX_CORE_IN_CSF, core_fraction_in, random_lesion_spec, shrinking_ranges
from .spec import LesionSpec

SCALE_RANGE = (0.8, 1.2)
# Library files larger than this are refused before they are read (a segmentation is a few MB).
MAX_LIBRARY_FILE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class LibraryPlacement:
    """Where and how a library lesion was placed (for provenance).

    Attributes:
        source: the library file, relative to the library folder (or as given).
        center_lps: where its core centroid went (LPS mm).
        orientation_deg: rotation about x, then y, then z (degrees).
        scale: linear scale factor.
        core_kept: core volume placed over the source core volume times scale^3 (clipping).
    """

    source: str
    center_lps: tuple[float, float, float]
    orientation_deg: tuple[float, float, float]
    scale: float
    core_kept: float


def read_library_label(path: str | Path, pathology: str = "glioma") -> sitk.Image:
    """A segmentation file as a label map in the library's internal values (uint8).

    BraTS 2021 files (ET = 4) are told from 2023 files (ET = 3) by their values.

    Raises:
        CaseError: values of neither convention, no tumour core, or a file over
            ``MAX_LIBRARY_FILE_BYTES``.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_LIBRARY_FILE_BYTES:
        raise CaseError(f"{path}: {path.stat().st_size / 2**20:.0f} MB is too large for a segmentation")
    label = read_image(path)
    values = set(np.unique(sitk.GetArrayViewFromImage(label)).tolist())
    naming = NAMINGS["2021"] if 4 in values else NAMINGS["2023"]
    internal = naming.to_internal(label, str(path))
    core = np.isin(sitk.GetArrayViewFromImage(internal), get_pathology(pathology).core_values)
    if not core.any():
        raise CaseError(f"{path}: no tumour core (values {sorted(values)}): not a lesion for the library")
    return internal


def library_files(folder: str | Path) -> list[Path]:
    """The image files under ``folder`` (recursively, sorted), staying inside it.

    Raises:
        CaseError: ``folder`` is not a folder or holds no image file.
    """
    root = Path(folder).resolve()
    if not root.is_dir():
        raise CaseError(f"{folder}: not a folder (--label-library takes a folder of segmentations)")
    files = [p for p in sorted(root.rglob("*")) if image_suffix(p) and p.is_file()
             and not p.name.startswith(".") and p.resolve().is_relative_to(root)]
    if not files:
        raise CaseError(f"{folder}: no segmentation files (.nii.gz, .nrrd, .mha...) in it")
    return files


def place_library_lesion(label: sitk.Image, room: sitk.Image, white_matter: sitk.Image, csf: np.ndarray | None,
                         rng: np.random.Generator, source: str, pathology: str = "glioma",
                         attempts: int = 6) -> tuple[sitk.Image, LibraryPlacement]:
    """Place the library ``label`` at a random plausible site of the brain ``room`` leaves.

    Draws a scale in ``SCALE_RANGE`` and a rotation, then a seed as for a generated lesion of the
    placed core's size; a placement is kept when :func:`place_label_map` accepts it and at most
    ``MAX_CORE_IN_CSF`` of its core lies in ``csf``. After ``attempts`` failures the scale range
    shrinks towards its lower end (:func:`shrinking_ranges`).

    Args:
        label: the library lesion, internal values, any grid.
        room: where the lesion may go (uint8 on the target's grid).
        white_matter: white-matter probability on the target's grid.
        csf: bool (z, y, x) CSF of the target, or None.
        source: the library file's name, for provenance.

    Returns:
        The placed label map (uint8 on ``room``'s grid) and the placement.

    Raises:
        LesionPlacementError: no placement fitted.
    """
    core_values = get_pathology(pathology).core_values
    core = np.isin(sitk.GetArrayViewFromImage(label), core_values)
    core_mm3 = np.count_nonzero(core) * float(np.prod(label.GetSpacing()))
    diameter = 2 * (3 * core_mm3 / (4 * np.pi)) ** (1 / 3)  # of the ball of the core's volume
    brain = sitk.GetArrayViewFromImage(room) > 0
    wm = sitk.GetArrayViewFromImage(white_matter)
    for low, high in shrinking_ranges(SCALE_RANGE):
        for _ in range(attempts):
            scale = float(rng.uniform(low, high))
            orientation = tuple(float(a) for a in rng.uniform(0.0, 360.0, 3))
            site = random_lesion_spec(brain, wm, room, rng, (diameter * scale,) * 2, pathology=pathology)
            if site is None:
                continue
            try:
                placed = place_label_map(label, room, site.center_lps, room, scale=scale,
                                         orientation_deg=orientation, pathology=pathology)
            except LesionPlacementError:
                continue
            array = sitk.GetArrayViewFromImage(placed)
            if csf is not None and core_fraction_in(array, csf, core_values) > MAX_CORE_IN_CSF:
                continue
            kept = np.count_nonzero(np.isin(array, core_values)) * float(np.prod(room.GetSpacing()))
            return placed, LibraryPlacement(source, tuple(site.center_lps), orientation, scale,
                                            round(kept / (core_mm3 * scale**3), 3))
    raise LesionPlacementError(f"no room for the library lesion {source} ({core_mm3 / 1000:.1f} ml core), "
                               f"even at scale {SCALE_RANGE[0]:g}")


@dataclass(frozen=True)
class LibraryLesion:
    """A lesion of a label library, read once: what :func:`synthesis_steps` places at a seed.

    Attributes:
        name: what provenance and the web page call it: the file's name (or its path inside the
            library), never a server path.
        label: its label map, in the pathology's internal values, on its own grid.
        pathology: the pathology of ``label``.
    """

    name: str
    label: sitk.Image
    pathology: str = "glioma"

    @classmethod
    def read(cls, path: str | os.PathLike, pathology: str = "glioma", name: str | None = None) -> LibraryLesion:
        """The segmentation file ``path`` (BraTS 2021 or 2023 values, any grid), called ``name``
        (default: the file's name).

        Raises:
            CaseError: unreadable, values of neither convention, no tumour core, too large.
        """
        return cls(name or Path(path).name, read_library_label(path, pathology), pathology)

    @cached_property
    def core_mm3(self) -> float:
        """Volume of its tumour core (mm^3)."""
        core = np.isin(sitk.GetArrayViewFromImage(self.label), get_pathology(self.pathology).core_values)
        return float(np.count_nonzero(core) * np.prod(self.label.GetSpacing()))


def place_at_seed(lesion: LibraryLesion, spec: LesionSpec, reference: sitk.Image,
                  brain_mask: sitk.Image) -> tuple[sitk.Image, dict]:
    """``lesion`` on ``reference``'s grid, clipped to ``brain_mask``, with its core centroid at the seed
    (``spec.center_lps``, LPS mm), and its provenance record (as ``synthpathology augment`` writes it).

    Scaled uniformly so that its core volume is the seed's (the ellipsoid of ``spec``'s diameters):
    the seed's size still sets the lesion's, and the library shape is kept, never stretched. Rotated
    by angles about x, y, z drawn from ``spec.random_seed``, so another random seed (the next
    variant) gives another rotation; the seed's own rotation is not used.

    Raises:
        LesionPlacementError: the seed is outside the brain, or the lesion does not fit there.
    """
    scale = (spec.core_volume_mm3() / lesion.core_mm3) ** (1 / 3)
    orientation = tuple(float(a) for a in np.random.default_rng(spec.random_seed).uniform(0.0, 360.0, 3))
    placed = place_label_map(lesion.label, reference, spec.center_lps, brain_mask, scale=scale,
                             orientation_deg=orientation, pathology=lesion.pathology)
    core = np.isin(sitk.GetArrayViewFromImage(placed), get_pathology(lesion.pathology).core_values)
    kept = np.count_nonzero(core) * float(np.prod(placed.GetSpacing())) / spec.core_volume_mm3()
    placement = LibraryPlacement(lesion.name, tuple(float(v) for v in spec.center_lps), orientation,
                                 round(scale, 4), round(kept, 3))
    return placed, {"library": asdict(placement)}
