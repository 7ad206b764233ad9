"""Multiple sclerosis: label 1 white-matter lesion (T2/FLAIR hyperintense), 2 gadolinium-enhancing
lesion; contrasts T1, T1c, T2, FLAIR."""

from __future__ import annotations

from . import LabelInfo, Pathology, register_pathology

MS = register_pathology(Pathology(
    name="ms",
    display_name="Multiple sclerosis",
    description="Multiple sclerosis: ovoid white-matter lesions of 3-15 mm, periventricular (perpendicular "
                "to the ventricles), juxtacortical and infratentorial, FLAIR-bright, a few enhancing.",
    labels=(
        LabelInfo(1, "white-matter lesion", "WML", "lesion", (1.00, 0.55, 0.10)),
        LabelInfo(2, "enhancing lesion", "GdE", "enhancing", (1.00, 0.95, 0.30)),
    ),
    contrasts=("t1", "t1c", "t2", "flair"),
    core_regions=("lesion", "enhancing"),
    shape_function="lesions.ms_shape:ms_regions",
    default_model="ms_v1",
    sampler_function="lesions.sampling:random_ms_spec",
    diameter_range_mm=(3.0, 15.0),
    lesions_per_case=(4, 20),
    composition_defaults=(("edema_extent_mm", 0.0), ("necrosis_fraction", 0.0), ("irregularity", 0.3),
                          ("enhancing", False)),
    space_occupying=False,
    phantom_labels=(),  # a chronic (1) or an enhancing (2) plaque
))
