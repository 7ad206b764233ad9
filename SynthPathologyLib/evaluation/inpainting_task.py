"""A BraTS 2023 inpainting task made from labelled real cases, so that ``evaluate inpainting`` can
score a model on data that has its ground truth.

As the challenge did, the region to fill is the tumour (unhealthy mask) plus a tumour-shaped region
of healthy tissue (healthy mask), whose real voxels are the ground truth. Here the healthy mask is
the case's lesion mirrored left-right (BraTS-space images: the array's x axis is left-right), inside
the brain and away from the lesion by ``margin_mm``. Each case folder ``<case>/`` holds
``<case>-t1n.nii.gz`` (the real T1, the ground truth), ``-mask``, ``-mask-healthy``,
``-mask-unhealthy`` and, for every contrast the case holds, ``<case>-<t1n|t1c|t2w|t2f>-voided`` (the
contrast with the whole mask set to 0): the challenge gave T1 alone, this project's generators read
every contrast (``synthpathology inpaint`` reads all the ``-voided`` files). Written whole (hidden
temporary folder, then renamed).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..core.durable import fsync_directory
from ..core.image_io import copy_geometry, write_image
from ..io.brats import NAMINGS
from ..io.dataset_writer import PARTIAL_PREFIX
from .datasets import case_folders, read_evaluation_case
from .errors import EvaluationError

MARGIN_MM = 5.0
# A healthy mask smaller than this (mm³) scores too few voxels to mean anything.
MIN_HEALTHY_MM3 = 1000.0


def healthy_mask(label: np.ndarray, brain: np.ndarray, spacing_xyz, margin_mm: float = MARGIN_MM) -> np.ndarray:
    """(z, y, x) bool: the lesion (``label > 0``) mirrored along x, inside ``brain``, at least
    ``margin_mm`` from the lesion."""
    lesion = label > 0
    spacing_zyx = np.asarray(tuple(spacing_xyz)[::-1], float)
    near = ndimage.distance_transform_edt(~lesion, sampling=spacing_zyx) <= margin_mm
    return lesion[:, :, ::-1] & brain & ~near


def _voided(image: sitk.Image, hole: np.ndarray) -> np.ndarray:
    array = sitk.GetArrayFromImage(image)
    array[hole] = 0
    return array


def write_inpainting_task(real_root: str | Path, out: str | Path, margin_mm: float = MARGIN_MM) -> list[Path]:
    """Write the task (module doc) for every case of ``real_root`` under ``out``; returns the folders.

    Raises:
        EvaluationError: a case without a lesion or whose mirrored healthy mask is smaller than
            MIN_HEALTHY_MM3 (a lesion across the midline), or a case folder that exists already.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for folder in case_folders(real_root, "real"):
        case = read_evaluation_case(folder, ("t1",), "real")  # T1 is the ground truth; every contrast is read
        t1 = case.images["t1"]
        label = sitk.GetArrayViewFromImage(case.label)
        healthy = healthy_mask(label, sitk.GetArrayViewFromImage(case.mask()) > 0, t1.GetSpacing(), margin_mm)
        volume = healthy.sum() * float(np.prod(t1.GetSpacing()))
        if volume < MIN_HEALTHY_MM3:
            raise EvaluationError(f"case {case.case_id}: the mirrored lesion leaves {volume:.0f} mm³ of healthy "
                                  f"tissue (< {MIN_HEALTHY_MM3:.0f}); is the lesion across the midline?")
        unhealthy = label > 0
        whole = healthy | unhealthy
        final = out / case.case_id
        if final.exists():
            raise EvaluationError(f"{final}: exists already")
        partial = out / f"{PARTIAL_PREFIX}{case.case_id}-{secrets.token_hex(4)}"
        try:
            partial.mkdir()
            images = {f"{NAMINGS['2023'].suffixes[c]}-voided": copy_geometry(_voided(image, whole), image)
                      for c, image in case.images.items()}
            for suffix, image in {"t1n": t1, **images, "mask": copy_geometry(whole.astype(np.uint8), t1),
                                  "mask-healthy": copy_geometry(healthy.astype(np.uint8), t1),
                                  "mask-unhealthy": copy_geometry(unhealthy.astype(np.uint8), t1)}.items():
                write_image(image, partial / f"{case.case_id}-{suffix}.nii.gz")
            fsync_directory(partial)
            os.rename(partial, final)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        written.append(final)
    fsync_directory(out)
    return written
