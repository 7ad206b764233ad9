"""Metastasis geometry: a round core, ring-enhancing around necrosis when large and solid when
small, in vasogenic edema that spreads along white matter.

The core, necrosis, rim and edema are the glioma's (:mod:`.glioma_shape`), drawn with the spec's
composition: metastases are requested with low ``irregularity`` (round, well-circumscribed) and an
edema extent large for their size (:func:`~.sampling.random_metastasis_spec`). Below
``SOLID_BELOW_MM`` mean core diameter the core is solid enhancing tumour: small metastases rarely
show a necrotic centre on MRI.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from .glioma_shape import glioma_regions
from .spec import LesionSpec

SOLID_BELOW_MM = 10.0


def metastasis_regions(
    spec: LesionSpec, grid: sitk.Image, brain: np.ndarray, white_matter: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Sub-region masks of the metastasis ``spec`` asks for, on ``grid``: disjoint bool (z, y, x)
    masks {"necrosis", "enhancing", "edema"} inside ``brain`` (arguments as
    :func:`~.glioma_shape.glioma_regions`)."""
    if float(np.mean(spec.diameters_mm)) < SOLID_BELOW_MM:
        spec = replace(spec, composition=replace(spec.composition, necrosis_fraction=0.0))
    return glioma_regions(spec, grid, brain, white_matter)
