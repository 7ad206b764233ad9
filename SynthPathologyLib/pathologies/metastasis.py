"""Brain metastasis, in BraTS-MET conventions: labels 1 NETC (non-enhancing tumour core, necrosis
included), 2 SNFH (surrounding non-enhancing FLAIR hyperintensity: vasogenic edema), 3 ET;
contrasts T1, T1c, T2, FLAIR."""

from __future__ import annotations

from . import LabelInfo, Pathology, register_pathology

METASTASIS = register_pathology(Pathology(
    name="metastasis",
    display_name="Brain metastasis (BraTS-MET)",
    description="Brain metastases: one or more round lesions of 3-30 mm near the grey-white junction, "
                "ring-enhancing when large, solid when small, with edema large for their size.",
    labels=(
        LabelInfo(1, "non-enhancing tumor core", "NETC", "necrosis", (0.90, 0.20, 0.20)),
        LabelInfo(2, "surrounding FLAIR hyperintensity", "SNFH", "edema", (0.30, 0.80, 0.30)),
        LabelInfo(3, "enhancing tumor", "ET", "enhancing", (1.00, 0.85, 0.10)),
    ),
    contrasts=("t1", "t1c", "t2", "flair"),
    core_regions=("necrosis", "enhancing"),
    shape_function="lesions.metastasis_shape:metastasis_regions",
    default_model="metastasis_v1",
    sampler_function="lesions.sampling:random_metastasis_spec",
    diameter_range_mm=(3.0, 30.0),
    lesions_per_case=(1, 3),
    composition_defaults=(("edema_extent_mm", 12.0), ("irregularity", 0.2), ("rim_thickness_mm", 2.0)),
    phantom_labels=(2, 3),
))
