"""Multiple-sclerosis plaque geometry: a smooth ovoid, its long axis the spec's first axis.

The body is the glioma core's star-shaped ellipsoid (:func:`~.glioma_shape.tumor_core`: volume
and centroid follow the diameters and the seed; MS specs ask for low ``irregularity``), clipped to
the brain and, given a white-matter map, to voxels of white-matter probability above
``PLAQUE_MIN_WHITE``: plaques are white-matter lesions (a juxtacortical one abuts the cortex, it
does not enter it). There is no edema or necrosis. With ``composition.enhancing`` the whole plaque is an
active, gadolinium-enhancing lesion (label 2), otherwise a chronic one (label 1): enhancement in
MS marks a lesion's first weeks, nodular in small plaques.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .glioma_shape import tumor_core
from .spec import LesionSpec

PLAQUE_MIN_WHITE = 0.25


def ms_regions(
    spec: LesionSpec, grid: sitk.Image, brain: np.ndarray, white_matter: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Sub-region masks of the plaque ``spec`` asks for, on ``grid``: disjoint bool (z, y, x)
    masks {"lesion", "enhancing"} inside ``brain`` (arguments as
    :func:`~.glioma_shape.glioma_regions`)."""
    body = tumor_core(spec, grid, np.random.default_rng(spec.random_seed)) & brain
    if white_matter is not None:
        body &= white_matter > PLAQUE_MIN_WHITE
    empty = np.zeros_like(body)
    if spec.composition.enhancing:
        return {"lesion": empty, "enhancing": body}
    return {"lesion": body, "enhancing": empty}
