"""``evaluate fidelity``: how close synthetic cases come to real ones.

- Paired: a synthetic case painted into a real case from that case's own label (same grid, same
  label) is compared with it inside the lesion (:mod:`.paired`), and its artifacts measured: the
  checkerboard index inside the lesion and the margin band's bias (:mod:`.artifacts`).
- Distribution: FID, KID, MMD and precision/recall on the segmenter's encoder features of
  lesion-centred crops, beside the real-vs-real split baseline (:mod:`.distribution`); and, per
  contrast, the Fréchet Radiomics Distance of lesion-centred crops, which needs no network, beside
  its patient-level real-vs-real baseline (:mod:`.frd`). A family the datasets are too small for is
  reported as ``{"skipped": reason}``.
- Diversity: MS-SSIM among the variants of one seed (:mod:`.diversity`).
- Label consistency: the segmenter (trained on real cases only) segments a cube around each lesion; Dice
  and HD95 against the label it was conditioned on, beside the same figures on the real cases
  (the FCN-score of Pix2Pix, in 3D). When the segmenter's mean Dice on the real cases' own labels
  is below TRUSTED_DICE in a region, ``segmenter.trusted`` is false: it does not see these lesions,
  so neither its label-consistency figures nor its encoder features (FID, KID, ...) mean anything.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from ..core.case import Case
from ..core.image_io import same_grid
from ..networks.conditioning import intensity_scale
from ..pathologies import get_pathology
from .artifacts import repaint_artifacts
from .datasets import SyntheticEntry, case_folders, check_contrasts, read_evaluation_case, synthetic_entries
from .distribution import distribution_metrics
from .diversity import variant_ms_ssim
from .errors import EvaluationError
from .frd import frd_with_baseline
from .overlap import overlap_scores
from .paired import paired_metrics
from .radiomic_features import SLICES_PER_LESION, case_features, feature_extractor
from .segmenter import Segmenter, encoder_features, lesion_crop, network_input, segment
from .splits import patient_of
from .statistics import mean_ci

# Side of the cube around the lesion that label consistency segments, in segmenter voxels.
CONSISTENCY_CROP = 64
# Below this mean Dice on the real cases, the segmenter does not recognise the lesions of this data.
TRUSTED_DICE = 0.5


@dataclass
class FidelityResult:
    """``summary`` (metrics.json) and one row per case (the CSV)."""

    summary: dict
    rows: list[dict] = field(default_factory=list)


def normalized(case: Case, contrasts: tuple[str, ...],
               scales: list[float] | None = None) -> tuple[np.ndarray, list[float]]:
    """(C, z, y, x) float32 intensities divided by ``scales`` (default: the case's own 99.5th
    brain percentiles) and the scales used."""
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    arrays = [sitk.GetArrayViewFromImage(case.images[c]).astype(np.float32) for c in contrasts]
    scales = scales or [intensity_scale(a, brain) for a in arrays]
    return np.stack([a / s for a, s in zip(arrays, scales)]), scales


def _consistency(segmenter: Segmenter, case: Case) -> tuple[dict, np.ndarray | None]:
    """Overlap scores of the segmenter against the case's label, and the lesion's features.

    The segmenter sees a CONSISTENCY_CROP-voxel cube around the lesion (grown if the lesion is
    larger), not the whole volume: it scores the painted lesion, at a fraction of the cost."""
    data = network_input(case, segmenter.card)
    if not data.label.any():
        return {}, None
    crop = lesion_crop(data, CONSISTENCY_CROP)
    scores = overlap_scores(segment(segmenter, crop), crop.label, segmenter.card.spacing_mm, segmenter.card.regions)
    row = {f"{key}_{region}": value for region, values in scores.items() for key, value in values.items()}
    return row, encoder_features(segmenter, data)


def _is_pair(real: Case, synthetic: Case) -> bool:
    return same_grid(real.reference, synthetic.reference) and np.array_equal(
        sitk.GetArrayViewFromImage(real.label), sitk.GetArrayViewFromImage(synthetic.label))


def _diversity(groups: dict[str, list[SyntheticEntry]], contrasts: tuple[str, ...], progress: bool) -> dict:
    scores = {}
    many = {key: members for key, members in groups.items() if len(members) > 1}
    for key, members in tqdm(many.items(), desc="diversity", unit="seed", disable=not progress, leave=False):
        cases = [read_evaluation_case(m.folder, contrasts, "synthetic") for m in members]
        first, scales = normalized(cases[0], contrasts)
        variants = [first] + [normalized(c, contrasts, scales)[0] for c in cases[1:]]
        region = np.any([sitk.GetArrayViewFromImage(c.label) > 0 for c in cases], axis=0)
        scores[members[0].case_id] = {"source_case": members[0].source_case, "variants": len(members),
                                      "ms_ssim": variant_ms_ssim(variants, region)}
    values = [s["ms_ssim"] for s in scores.values()]
    return {"seeds": len(scores), "ms_ssim": mean_ci(np.array(values)) if values else None, "per_seed": scores}


def _or_skipped(compute) -> dict:
    """``compute()``, or ``{"skipped": reason}`` when the datasets are too small for it."""
    try:
        return compute()
    except EvaluationError as exc:
        return {"skipped": str(exc)}


def _by_patient(cases: list[tuple[str, dict[str, np.ndarray]]], contrast: str) -> dict[str, np.ndarray]:
    """Patient -> the crop features of all its cases in ``contrast``."""
    grouped: dict[str, list[np.ndarray]] = defaultdict(list)
    for patient, features in cases:
        grouped[patient].append(features[contrast])
    return {patient: np.concatenate(parts) for patient, parts in grouped.items()}


def _segmenter_trust(consistency: dict) -> dict:
    """The segmenter's mean Dice per region on the real cases, and whether each reaches TRUSTED_DICE."""
    dice = {key.removeprefix("dice_"): stat["mean"] for key, stat in consistency.items()
            if key.startswith("dice_") and stat and np.isfinite(stat["mean"])}
    weak = [region for region, value in dice.items() if value < TRUSTED_DICE]
    return {"real_dice": dice, "trusted": not weak,
            **({"warning": f"the segmenter finds Dice below {TRUSTED_DICE} on the real cases' own labels "
                           f"({', '.join(f'{r} {dice[r]:.2f}' for r in weak)}): its label-consistency and encoder "
                           "(FID/KID/MMD/precision/recall) figures are not to be trusted on this data; train one on "
                           "it with `evaluate train-segmenter`"} if weak else {})}


def evaluate_fidelity(real_root: str | Path, synthetic_root: str | Path, segmenter: Segmenter,
                      progress: bool = True, frd_slices: int = SLICES_PER_LESION) -> FidelityResult:
    """Every fidelity metric of the synthetic dataset against the real one (see the module doc);
    ``frd_slices`` crops per lesion and contrast for FRD (0: no FRD)."""
    real_folders = case_folders(real_root, "real")
    entries = synthetic_entries(synthetic_root)
    contrasts = tuple(segmenter.card.contrasts)
    check_contrasts(real_folders, contrasts, "real")
    check_contrasts([e.folder for e in entries], contrasts, "synthetic")
    label_names = {info.value: info.abbreviation for info in get_pathology(segmenter.card.pathology).labels}
    rows, features = [], {"real": [], "synthetic": []}
    # (patient, contrast -> crop features) of each case with a lesion, for FRD
    radiomics: dict[str, list[tuple[str, dict[str, np.ndarray]]]] = {"real": [], "synthetic": []}
    extractor = feature_extractor() if frd_slices else None
    real_by_id = {}
    for folder in tqdm(real_folders, desc="real cases", unit="case", disable=not progress, leave=False):
        case = read_evaluation_case(folder, contrasts, "real")
        real_by_id[case.case_id] = folder
        row, vector = _consistency(segmenter, case)
        rows.append({"case_id": case.case_id, "kind": "real", **row})
        if vector is not None:
            features["real"].append(vector)
        if extractor is not None:
            radiomics["real"].append((patient_of(case.case_id),
                                      case_features(case, contrasts, extractor, frd_slices)[0]))
    groups: dict[str, list[SyntheticEntry]] = defaultdict(list)
    for entry in tqdm(entries, desc="synthetic cases", unit="case", disable=not progress, leave=False):
        case = read_evaluation_case(entry.folder, contrasts, "synthetic")
        row, vector = _consistency(segmenter, case)
        row = {"case_id": entry.case_id, "kind": "synthetic", "source_case": entry.source_case, **row}
        if vector is not None:
            features["synthetic"].append(vector)
        if extractor is not None:
            radiomics["synthetic"].append((patient_of(entry.source_case),
                                           case_features(case, contrasts, extractor, frd_slices)[0]))
        if entry.source_case in real_by_id:
            real = read_evaluation_case(real_by_id[entry.source_case], contrasts, "real")
            if _is_pair(real, case):
                real_arrays, scales = normalized(real, contrasts)
                synthetic_arrays, _ = normalized(case, contrasts, scales)
                label = sitk.GetArrayViewFromImage(real.label)
                row.update(paired_metrics(real_arrays, synthetic_arrays, label, list(contrasts), label_names))
                row.update(repaint_artifacts(real_arrays, synthetic_arrays, label, list(contrasts)))
        groups[f"{entry.source_case}|{entry.lesion_key}"].append(entry)
        rows.append(row)

    summary = {"real": str(real_root), "synthetic": str(synthetic_root),
               "segmenter": {"model_id": segmenter.card.model_id, "sha256": segmenter.sha256},
               "n_real": len(real_folders), "n_synthetic": len(entries)}
    paired_rows = [r for r in rows if "psnr_all" in r]
    paired_kinds = ("psnr", "mae", "ssim", "checkerboard", "band")
    paired_keys = sorted({k for r in paired_rows for k in r if k.split("_")[0] in paired_kinds})
    summary["paired"] = {"n": len(paired_rows), **{
        k: mean_ci(np.array([r[k] for r in paired_rows if k in r])) for k in paired_keys}}
    summary["distribution"] = _or_skipped(
        lambda: distribution_metrics(np.array(features["real"]), np.array(features["synthetic"])))
    summary["frd"] = {contrast: _or_skipped(lambda c=contrast: frd_with_baseline(
        _by_patient(radiomics["real"], c), [(p, f[c]) for p, f in radiomics["synthetic"]]))
        for contrast in contrasts} if extractor is not None else {}
    summary["diversity"] = _diversity(groups, contrasts, progress)
    score_keys = list(dict.fromkeys(k for r in rows for k in r if k.startswith(("dice_", "hd95_"))))
    summary["label_consistency"] = {kind: {k: mean_ci(np.array([r[k] for r in rows if r["kind"] == kind and k in r]))
                                           for k in score_keys} for kind in ("real", "synthetic")}
    summary["segmenter"].update(_segmenter_trust(summary["label_consistency"]["real"]))
    return FidelityResult(summary, rows)
