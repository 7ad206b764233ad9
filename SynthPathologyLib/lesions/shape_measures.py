"""Shape statistics of lesion label maps, comparable between sampled and real lesions."""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError


def solidity(mask: np.ndarray, spacing_zyx: tuple[float, float, float]) -> float:
    """Voxel volume over the volume of the convex hull of the voxel centres (both mm^3).

    ``mask``: bool (z, y, x); ``spacing_zyx``: voxel size (mm). Convex shapes score a little above 1
    (a voxel's full cube counts, the hull runs through centres), irregular ones lower; NaN for a
    mask too small or flat to have a hull.
    """
    points = np.argwhere(mask) * np.asarray(spacing_zyx, float)
    if len(points) < 4:
        return float("nan")
    try:
        hull = ConvexHull(points)
    except QhullError:
        return float("nan")
    return float(len(points) * np.prod(spacing_zyx) / hull.volume)


def edema_core_ratio(label: np.ndarray, core_values: tuple[int, ...], edema_value: int) -> float:
    """Edema volume over core volume of a label map (z, y, x); NaN without a core."""
    core = np.count_nonzero(np.isin(label, core_values))
    return float(np.count_nonzero(label == edema_value) / core) if core else float("nan")
