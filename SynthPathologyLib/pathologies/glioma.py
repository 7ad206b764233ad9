"""Glioma, in BraTS conventions: labels 1 NCR, 2 ED, 3 ET (BraTS 2021 files store ET as 4);
contrasts T1, T1c, T2, FLAIR."""

from __future__ import annotations

from . import LabelInfo, Pathology, register_pathology

GLIOMA = register_pathology(Pathology(
    name="glioma",
    display_name="Glioma (BraTS)",
    description="Diffuse glioma: necrotic core and enhancing rim in peritumoral edema, BraTS labels and contrasts.",
    labels=(
        LabelInfo(1, "necrotic tumor core", "NCR", "necrosis", (0.90, 0.20, 0.20)),
        LabelInfo(2, "peritumoral edema", "ED", "edema", (0.30, 0.80, 0.30)),
        LabelInfo(3, "enhancing tumor", "ET", "enhancing", (1.00, 0.85, 0.10)),
    ),
    contrasts=("t1", "t1c", "t2", "flair"),
    core_regions=("necrosis", "enhancing"),
    shape_function="lesions.glioma_shape:glioma_regions",
    default_model="glioma_real_v3",
    sampler_function="lesions.sampling:random_glioma_spec",
    diameter_range_mm=(15.0, 40.0),
    phantom_labels=(1, 2, 3),
))
