"""Metastases and MS plaques painted into real brains: do they look as the pathology does?

Prints one JSON object. For each real brain given (BraTS layout; by default the MS brains of
``../shared/realdata``, whose consensus masks are a separate file: their own plaques are not
avoided; a case with a segmentation in the pathology's values keeps its lesions and is avoided):

- ``ms``: lesions drawn as ``augment --pathology ms --lesion-load ML`` draws them (the MS sampler,
  plaques away from each other and from the case's own lesions) and painted with the MS model:
  the plaques' count, volumes (ml) and FLAIR, T2 and T1 means over the normal-appearing white matter's
  (white-matter probability > 0.9 from the template-prior tissue estimate, outside every lesion),
  each contrast's ratio (a real MS plaque: FLAIR and T2 > 1, T1 <= 1), beside the same ratios of
  the case's own consensus plaques (``<case>-lesion.nii.gz``, when the case has one): the target;
- ``metastasis``: two metastases drawn by the metastasis sampler and painted with the metastasis
  model: per lesion the enhancing tumour's T1c / T1 ratio over the white matter's (enhancement: > 1),
  and the edema's FLAIR and T2 over the white matter's (vasogenic edema: > 1);
- ``real_tumour_reference``: the same figures of the real labelled gliomas (``--reference``; no real
  metastasis is public here, their enhancing tumour and edema are the nearest real tissue).

Intensities are each contrast's values divided by its 99.5th brain percentile. Real data: OpenMS
(Lesjak et al. 2018, CC BY), TCGA via TCIA (CC BY 3.0). Run from the repository root:

    python Testing/benchmarks/bench_pathologies.py [--data DIR ...] [--ms-model DIR] [--metastasis-model DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from SynthPathologyLib.core.image_io import read_image
from SynthPathologyLib.io.brats import find_brats_cases, read_brats_case
from SynthPathologyLib.lesions.sampling import draw_fitting_lesions
from SynthPathologyLib.networks.conditioning import intensity_scale
from SynthPathologyLib.phantom.atlas import estimate_tissue_maps_with_priors
from SynthPathologyLib.synthesis.insertion import insert_lesions, prepare_beside_existing
from SynthPathologyLib.synthesis.synthesizer import Synthesizer

REPO = Path(__file__).resolve().parents[2]
REAL = REPO.parent / "shared" / "realdata"
NORMAL_WHITE = 0.9


def normalized(case, contrast: str, brain: np.ndarray) -> np.ndarray:
    image = sitk.GetArrayFromImage(case.images[contrast]).astype(np.float32)
    return image / intensity_scale(image, brain)


def paint(synthesizer: Synthesizer, case, rng: np.random.Generator, **amount):
    """The case with the pathology's lesions drawn and painted, the new lesions' label (z, y, x),
    and the white-matter probability estimated from the case's T1 to place them."""
    prepared, csf = prepare_beside_existing(synthesizer, case)
    drawn = draw_fitting_lesions(prepared.mask, prepared.white_matter, csf, rng,
                                 synthesizer.pathology.diameter_range_mm, synthesizer.pathology.name,
                                 gap_mm=2.0, **amount)
    result = insert_lesions(synthesizer, prepared, [label for _, label, _ in drawn],
                            random_seeds=[spec.random_seed for spec, _, _ in drawn],
                            described=[spec.to_dict() for spec, _, _ in drawn], gap_mm=2.0)
    new = np.zeros(sitk.GetArrayViewFromImage(result.case.label).shape, np.uint8)
    for _, label, _ in drawn:
        new = np.maximum(new, sitk.GetArrayViewFromImage(label))
    return result.case, new, prepared.white_matter


def own_plaques(folder: Path) -> np.ndarray | None:
    """The case's own consensus MS lesion mask (z, y, x) when it has one (OpenMS: ``<case>-lesion.nii.gz``)."""
    path = folder / f"{folder.name}-lesion.nii.gz"
    return sitk.GetArrayFromImage(read_image(path)) > 0 if path.is_file() else None


def white_matter_reference(case, white_matter: sitk.Image, painted, own: np.ndarray | None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Brain mask and the normal-appearing white matter of ``case``: ``white_matter`` probability
    above ``NORMAL_WHITE``, clear of every lesion in ``painted`` and of the case's ``own`` plaques."""
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    lesions = sitk.GetArrayViewFromImage(painted.label) > 0
    if own is not None:
        lesions = lesions | own
    normal = (sitk.GetArrayViewFromImage(white_matter) > NORMAL_WHITE) & brain
    return brain, normal & ~ndimage.binary_dilation(lesions, iterations=3)


def ms_figures(synthesizer: Synthesizer, case, own: np.ndarray | None, load_ml: float, seed: int) -> dict:
    painted, new, white_matter = paint(synthesizer, case, np.random.default_rng(seed), load_ml=load_ml)
    brain, white = white_matter_reference(case, white_matter, painted, own)
    ratios, real = {}, {}
    for contrast in ("flair", "t2", "t1"):
        image = normalized(painted, contrast, brain)
        ratios[contrast] = round(float(image[new > 0].mean() / image[white].mean()), 3)
        if own is not None:
            original = normalized(case, contrast, brain)
            real[contrast] = round(float(original[own].mean() / original[white].mean()), 3)
    pieces, count = ndimage.label(new > 0)
    voxel_ml = float(np.prod(case.reference.GetSpacing())) / 1000.0
    volumes = np.bincount(pieces.ravel())[1:] * voxel_ml
    return {"plaques": int(count), "load_ml": round(float(volumes.sum()), 2),
            "median_plaque_ml": round(float(np.median(volumes)), 3), "largest_plaque_ml": round(float(volumes.max()), 3),
            "ratio_to_normal_white_matter": ratios, "own_plaques_ratio_to_normal_white_matter": real or None}


def tumour_figures(case, label: np.ndarray, white: np.ndarray, brain: np.ndarray) -> list[dict]:
    """Per connected lesion of ``label`` (BraTS values: 2 edema, 3 enhancing): its volume (ml), the
    enhancing tumour's T1c / T1 ratio over the white matter's (enhancement: > 1), and the edema's
    FLAIR and T2 over the white matter's (vasogenic edema: both > 1)."""
    images = {c: normalized(case, c, brain) for c in ("t1", "t1c", "t2", "flair")}
    pieces, count = ndimage.label(label > 0)
    lesions = []
    for k in range(1, count + 1):
        part = pieces == k
        enhancing, edema = part & (label == 3), part & (label == 2)
        figures = {"ml": round(float(part.sum()) * float(np.prod(case.reference.GetSpacing())) / 1000.0, 2)}
        if enhancing.any():
            enhancement = images["t1c"][enhancing].mean() / images["t1"][enhancing].mean()
            figures["t1c_over_t1_enhancing_vs_white"] = round(
                float(enhancement / (images["t1c"][white].mean() / images["t1"][white].mean())), 3)
        for contrast in ("flair", "t2"):
            if edema.any():
                figures[f"{contrast}_edema_vs_white"] = round(
                    float(images[contrast][edema].mean() / images[contrast][white].mean()), 3)
        lesions.append(figures)
    return lesions


def metastasis_figures(synthesizer: Synthesizer, case, own: np.ndarray | None, seed: int) -> dict:
    painted, new, white_matter = paint(synthesizer, case, np.random.default_rng(seed), count=2)
    brain, white = white_matter_reference(case, white_matter, painted, own)
    return {"lesions": tumour_figures(painted, new, white, brain)}


def real_tumour_reference(folder: Path) -> dict:
    """The same figures for a real labelled tumour (a BraTS glioma: no real metastasis is public
    here; its enhancing tumour and vasogenic edema are the nearest real tissue)."""
    case = read_brats_case(folder, require_label=True)
    white_matter = estimate_tissue_maps_with_priors(case.images["t1"], case.mask()).wm
    brain, white = white_matter_reference(case, white_matter, case, None)
    return {"case": folder.name, "lesions": tumour_figures(case, sitk.GetArrayFromImage(case.label), white, brain)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[REAL / "ms"])
    parser.add_argument("--ms-model", help="MS model folder (default: the pathology's)")
    parser.add_argument("--metastasis-model", help="metastasis model folder (default: the pathology's)")
    parser.add_argument("--reference", type=Path, nargs="*", default=[REAL / "glioma"],
                        help="datasets of real labelled tumours whose enhancement and edema are printed as the reference")
    parser.add_argument("--load-ml", type=float, default=3.0, help="MS lesion load to paint (ml)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    ms = Synthesizer(args.ms_model, device=args.device, pathology="ms")
    metastasis = Synthesizer(args.metastasis_model, device=args.device, pathology="metastasis")
    cases = []
    for folder in [f for dataset in args.data for f in find_brats_cases(dataset)]:
        case, own = read_brats_case(folder, require_label=False), own_plaques(folder)
        started = time.perf_counter()
        cases.append({"case": folder.name, "ms": ms_figures(ms, case, own, args.load_ml, args.seed),
                      "metastasis": metastasis_figures(metastasis, case, own, args.seed),
                      "seconds": round(time.perf_counter() - started, 1)})
    reference = [real_tumour_reference(folder) for dataset in args.reference for folder in find_brats_cases(dataset)]
    print(json.dumps({"ms_model": ms.card.model_id, "metastasis_model": metastasis.card.model_id,
                      "load_ml": args.load_ml, "cases": cases, "real_tumour_reference": reference}, indent=1))


if __name__ == "__main__":
    main()
