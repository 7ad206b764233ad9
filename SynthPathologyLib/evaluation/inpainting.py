"""The BraTS 2023 inpainting metrics (SSIM, PSNR, MSE inside the healthy mask), computed by the
challenge's official ``inpainting`` package (PyPI, ``inpainting.challenge_metrics_2023``).

The package's ``generate_metrics`` is called as its own file-based entry point
(``compute_image_quality_metrics``) calls it, so a figure here is the challenge's figure:

- prediction and ground truth are multiplied by the healthy mask, then both are clipped to the 0.5th
  and 99.5th percentiles of the *voided* image (the real image with the inpainted region set to 0,
  lower bound at least 0) and scaled to [0, 1] by them;
- SSIM is torchmetrics' (Gaussian window 11, sigma 1.5, data range from the images) on the volume as
  the package reads a NIfTI file, shape (1, x, y, z): a 2D SSIM on each sagittal (y, z) plane,
  averaged over the healthy mask's voxels;
- MSE, RMSE, MAE, MSLE and PSNR over the healthy mask's voxels only; ``psnr`` takes its data range
  from the ground truth's masked voxels, ``psnr_01`` a fixed range [0, 1]; ``*_eps`` add machine
  epsilon to the MSE so that identical images give a finite figure.

Arrays are given in SimpleITK's (z, y, x) order and transposed to the (x, y, z) order nibabel reads,
so that the SSIM runs over the same planes as the challenge's scoring of the same files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from ..core.dependencies import import_optional
from ..core.image_io import describe_grid, read_image, same_grid
from .errors import EvaluationError
from .statistics import mean_ci

# The metrics the challenge ranked by; every figure the package returns is kept beside them.
RANKED_METRICS = ("ssim", "psnr", "mse")
# torchmetrics' SSIM pads each plane by half its 11-voxel window with reflection: planes need > 5 voxels.
MIN_PLANE_SIDE = 6

Volume = np.ndarray | sitk.Image


def _array(volume: Volume, role: str) -> np.ndarray:
    if isinstance(volume, sitk.Image):
        volume = sitk.GetArrayFromImage(volume)
    array = np.asarray(volume)
    if array.ndim != 3:
        raise EvaluationError(f"{role}: expected a 3D volume, got shape {array.shape}")
    return array


def _same_grid(images: dict[str, Volume]) -> None:
    """One-line error when SimpleITK images that must overlay do not share one voxel grid."""
    grids = {role: image for role, image in images.items() if isinstance(image, sitk.Image)}
    if not grids:
        return
    reference_role, reference = next(iter(grids.items()))
    for role, image in grids.items():
        if not same_grid(image, reference):
            raise EvaluationError(f"{role} is on another voxel grid ({describe_grid(image)}) than {reference_role} "
                                  f"({describe_grid(reference)})")


def _tensor(array: np.ndarray) -> torch.Tensor:
    """(z, y, x) array -> (1, x, y, z) float32 tensor, as the package reads a NIfTI file."""
    return torch.as_tensor(np.ascontiguousarray(array.transpose(2, 1, 0)), dtype=torch.float32).unsqueeze(0)


def brats_inpainting_metrics(real: Volume, inpainted: Volume, healthy_mask: Volume,
                             voided: Volume | None = None) -> dict[str, float]:
    """The BraTS 2023 inpainting figures of ``inpainted`` against ``real`` inside ``healthy_mask``.

    Args:
        real: ground-truth T1 (the challenge's ``t1n``), (z, y, x) array or SimpleITK image, any units.
        inpainted: the inpainting result on the same grid (the challenge's prediction).
        healthy_mask: region that was inpainted and is scored (non-zero voxels), same grid.
        voided: the image the inpainting model saw, whose percentiles normalize both images (the
            challenge's ``t1n-voided``, which also zeroes the tumour). Default: ``real`` with the
            healthy mask set to 0.

    Returns:
        ``ssim``, ``psnr``, ``mse`` (the ranked metrics) and the package's ``rmse``, ``msle``, ``mae``,
        ``psnr_eps``, ``psnr_01``, ``psnr_01_eps``; intensities on the [0, 1] scale of the normalization,
        PSNR in dB.

    Raises:
        EvaluationError: volumes of different shapes or grids, an empty mask, non-finite voxels, or
            planes too small for the SSIM window.
    """
    volumes = {"real": real, "inpainted": inpainted, "healthy mask": healthy_mask}
    if voided is not None:
        volumes["voided"] = voided
    _same_grid(volumes)
    arrays = {role: _array(volume, role) for role, volume in volumes.items()}
    shape = arrays["real"].shape
    for role, array in arrays.items():
        if array.shape != shape:
            raise EvaluationError(f"{role} has shape {array.shape}, real has {shape} (another voxel grid)")
        if not np.isfinite(array).all():
            raise EvaluationError(f"{role} holds NaN or infinite voxels")
    if min(shape[:2]) < MIN_PLANE_SIDE:
        raise EvaluationError(f"volume {shape} too small for the SSIM window: z and y need >= {MIN_PLANE_SIDE} voxels")
    mask = arrays["healthy mask"] != 0
    if not mask.any():
        raise EvaluationError("healthy mask is empty: nothing to score")
    normalization = arrays["voided"] if voided is not None else np.where(mask, 0, arrays["real"])
    with warnings.catch_warnings():  # the package's numpy-on-tensor and tensor-copy idioms warn; figures unaffected
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        challenge = import_optional("inpainting.challenge_metrics_2023", "evaluation")
        scores = challenge.generate_metrics(prediction=_tensor(arrays["inpainted"]), target=_tensor(arrays["real"]),
                                            normalization_tensor=_tensor(normalization), mask=_tensor(mask).bool())
    return {key: float(value) for key, value in scores.items()}


def _first_image(stems: list[Path]) -> Path | None:
    """The first of ``stems`` (paths without extension) that exists as ``.nii.gz`` or ``.nii``."""
    for stem in stems:
        for extension in (".nii.gz", ".nii"):
            path = stem.with_name(stem.name + extension)
            if path.is_file():
                return path
    return None


def _stems(roots: list[Path], case_id: str, suffixes: tuple[str, ...]) -> list[Path]:
    """``<case>-<suffix>`` in ``root/<case>/`` then in ``root/``, for each suffix, then each root."""
    return [base / f"{case_id}-{suffix}" for suffix in suffixes for root in roots for base in (root / case_id, root)]


def inpainting_cases(real: str | Path, inpainted: str | Path, masks: str | Path) -> list[dict[str, Path | None]]:
    """The files of every case of a BraTS 2023 inpainting dataset, checked to be complete.

    A case is a folder ``masks/<case>/`` holding ``<case>-mask-healthy.nii.gz``; its ground truth is
    ``<case>-t1n.nii.gz`` under ``real`` and its result ``<case>-t1n-inference.nii.gz`` (or
    ``<case>-t1n.nii.gz``) under ``inpainted``, each in a case folder or directly in the folder, or
    ``<case>-inpainted/<case>-inpainted-t1n.nii.gz`` as ``synthpathology inpaint`` writes it. The
    voided image (``<case>-t1n-voided``) and the inpainting mask (``<case>-mask``) are looked for beside
    the healthy mask, then under ``real``.

    Returns:
        one dict per case, sorted by case id: ``case``, ``real``, ``inpainted``, ``healthy_mask``,
        ``voided`` and ``mask`` (the last two None when absent).

    Raises:
        EvaluationError: a folder that does not exist, no case, or a case without its real or inpainted image.
    """
    roots = {"real": Path(real), "inpainted": Path(inpainted), "masks": Path(masks)}
    for role, root in roots.items():
        if not root.is_dir():
            raise EvaluationError(f"--{role} {root}: not a folder")
    case_ids = sorted(p.name for p in roots["masks"].iterdir() if p.is_dir() and not p.name.startswith(".")
                      and _first_image(_stems([roots["masks"]], p.name, ("mask-healthy",))))
    if not case_ids:
        raise EvaluationError(f"--masks {masks}: no case folder holds a <case>-mask-healthy.nii.gz")
    cases, missing = [], []
    for case_id in case_ids:
        inpainted = _stems([roots["inpainted"]], case_id, ("t1n-inference", "t1n"))
        files = {"case": case_id,
                 "real": _first_image(_stems([roots["real"]], case_id, ("t1n",))),
                 "inpainted": _first_image(inpainted + [roots["inpainted"] / f"{case_id}-inpainted" /
                                                        f"{case_id}-inpainted-t1n"]),
                 "healthy_mask": _first_image(_stems([roots["masks"]], case_id, ("mask-healthy",))),
                 "voided": _first_image(_stems([roots["masks"], roots["real"]], case_id, ("t1n-voided",))),
                 "mask": _first_image(_stems([roots["masks"], roots["real"]], case_id, ("mask",)))}
        missing += [f"{case_id} ({role})" for role in ("real", "inpainted") if files[role] is None]
        cases.append(files)
    if missing:
        raise EvaluationError(f"{len(missing)} missing image(s): {', '.join(missing[:5])}"
                              f"{' ...' if len(missing) > 5 else ''}")
    return cases


def score_inpainting_case(files: dict[str, Path | None]) -> dict[str, float | str]:
    """The challenge's figures for one case of :func:`inpainting_cases` (``normalization`` names the
    image whose percentiles scaled it: the voided file, or the real image with the mask set to 0)."""
    images = {role: read_image(path) for role, path in files.items() if role != "case" and path is not None}
    try:
        voided = images.get("voided")
        normalization = "t1n-voided"
        if voided is None:
            # Like the challenge's voided image: the whole inpainting mask (tumour included) set to 0.
            hole = images.get("mask", images["healthy_mask"])
            _same_grid({"real": images["real"], "mask": hole})
            voided = sitk.GetArrayFromImage(images["real"]) * (sitk.GetArrayFromImage(hole) == 0)
            normalization = "real outside mask" if "mask" in images else "real outside healthy mask"
        scores = brats_inpainting_metrics(images["real"], images["inpainted"], images["healthy_mask"], voided)
    except EvaluationError as exc:
        raise EvaluationError(f"case {files['case']}: {exc}") from None
    return {"case": files["case"], **scores, "normalization": normalization}


def summarize_inpainting(rows: list[dict]) -> dict:
    """Mean with 95% CI over cases of each figure of :func:`brats_inpainting_metrics`."""
    keys = [key for key, value in rows[0].items() if isinstance(value, float)]
    return {key: mean_ci(np.array([row[key] for row in rows])) for key in keys}
