"""Radiomics features of lesion-centred crops, as the Fréchet Radiomics Distance extracts them.

A lesion gives ``slices`` axial crops (2D, evenly spaced over the slices its label touches), each
cut to the lesion's in-plane bounding box grown by ``margin_mm`` so that the tissue around the
lesion (where a halo would show) is in it; the region of interest is the brain inside the crop.
Features are those of FRD v1 (the ``frd-score`` package's 2D PyRadiomics configuration: first-order,
GLCM, GLRLM, GLSZM and NGTDM features of the original, Laplacian-of-Gaussian (sigma 2-5 mm) and
wavelet images, after PyRadiomics' per-image z-score normalization and resampling to 2 mm), extracted
by the package's own per-image routine. PyRadiomics is the ``pyradiomics-bhklab`` build (its
``radiomics`` module), whose source distribution builds on current Python and numpy.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.case import Case
from ..core.dependencies import import_optional
from ..core.voxel_box import bounding_box
from .errors import EvaluationError

SLICES_PER_LESION = 8
MARGIN_MM = 10.0
# Fewer ROI pixels than this leave the texture matrices of a 2 mm resampling nearly empty.
MIN_ROI_PIXELS = 16


def feature_extractor():
    """The FRD v1 2D PyRadiomics extractor, with PyRadiomics' logging silenced."""
    frd = import_optional("frd_score.frd", "evaluation")
    import_optional("radiomics", "evaluation").setVerbosity(logging.ERROR + 10)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    return frd.get_feature_extractor(frd_version="v1", image_dim=2)


def lesion_slices(image: sitk.Image, label: sitk.Image, brain: sitk.Image, slices: int = SLICES_PER_LESION,
                  margin_mm: float = MARGIN_MM) -> list[tuple[sitk.Image, sitk.Image]]:
    """Up to ``slices`` 2D (image, ROI mask) crops through the lesion of ``label`` (see the module doc).

    Args:
        image, label, brain: one grid; the lesion is ``label > 0``, the ROI ``brain > 0``.

    Returns:
        (float32 image, uint8 mask) pairs of 2D SimpleITK images (x, y), slices of fewer than
        MIN_ROI_PIXELS brain pixels left out; empty when the label has no lesion.
    """
    lesion = sitk.GetArrayViewFromImage(label) > 0
    if not lesion.any():
        return []
    spacing = np.array(image.GetSpacing())[::-1]  # z, y, x
    box = bounding_box(lesion, np.ceil(margin_mm / spacing).astype(int) * (0, 1, 1))
    chosen = np.unique(np.linspace(box[0].start, box[0].stop - 1, slices).round().astype(int))
    brain_array = sitk.GetArrayViewFromImage(brain) > 0
    crops = []
    for z in chosen:
        roi = brain_array[z, box[1], box[2]]
        if roi.sum() < MIN_ROI_PIXELS:
            continue
        plane = sitk.Cast(image[box[2].start:box[2].stop, box[1].start:box[1].stop, int(z)], sitk.sitkFloat32)
        mask = sitk.GetImageFromArray(roi.astype(np.uint8))
        mask.CopyInformation(plane)
        crops.append((plane, mask))
    return crops


def crop_features(crops: list[tuple[sitk.Image, sitk.Image]], extractor) -> tuple[np.ndarray, list[str]]:
    """(N, F) FRD features of N (image, mask) crops, by ``frd_score``'s ``process_image_mask_pair``,
    and the F feature names. Crops the package skips (a mask of <= 1 pixel) are left out."""
    frd = import_optional("frd_score.frd", "evaluation")

    rows, names = [], []
    with tempfile.TemporaryDirectory(prefix="frd-") as folder:
        for index, (image, mask) in enumerate(crops):
            paths = (Path(folder) / f"{index}-image.nii.gz", Path(folder) / f"{index}-mask.nii.gz")
            sitk.WriteImage(image, str(paths[0]))
            sitk.WriteImage(mask, str(paths[1]))
            result = frd.process_image_mask_pair(paths, feature_extractor=extractor, frd_version="v1")
            if result is not None:
                rows.append(result[0])
                names = list(result[1])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(names)), names


def case_features(case: Case, contrasts: tuple[str, ...], extractor,
                  slices: int = SLICES_PER_LESION) -> tuple[dict[str, np.ndarray], list[str]]:
    """Contrast -> (N, F) features of the case's lesion crops (N = 0 for a case without lesion),
    and the F feature names (empty when no crop gave features)."""
    if case.label is None:
        raise EvaluationError(f"case {case.case_id}: radiomics features need its lesion label")
    brain = case.mask()
    features, names = {}, []
    for contrast in contrasts:
        features[contrast], found = crop_features(lesion_slices(case.images[contrast], case.label, brain, slices),
                                                  extractor)
        names = names or found
    return features, names
