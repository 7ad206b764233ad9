"""A PNG montage of a case: one row per plane (axial, coronal, sagittal) through the lesion or
the brain's centre, one column per contrast plus the label map over the last contrast.

Display follows radiological conventions: axial slices are seen from the feet (anterior up,
patient right on the image left), coronal slices from the front (superior up, patient right on
the left), sagittal slices with superior up and anterior on the left. Each contrast is windowed
from its 0.5th to its 99.5th percentile inside the brain. The PNG is written with SimpleITK.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.case import Case
from ..core.errors import LesionPlacementError
from ..core.image_io import voxel_points_lps
from ..lesions.placement import core_centroid_lps
from ..pathologies import get_pathology

# Plane -> (image column direction, image row direction) as LPS unit vectors.
PLANES = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),  # left to right: patient R->L; top to bottom: A->P
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),  # R->L; superior to inferior
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),  # A->P; superior to inferior
}
WINDOW_PERCENTILES = (0.5, 99.5)
LABEL_OPACITY = 0.5
GAP_PIXELS = 4
FIELD_MARGIN_MM = 4.0


def save_montage(
    case: Case, path: str | Path, center_lps: tuple[float, float, float] | None = None, pixel_mm: float = 1.0
) -> Path:
    """Write the montage of ``case`` to ``path`` (PNG) and return the path.

    Args:
        case: the case; its contrasts are the columns, in order, followed by the label (if any)
            over the last contrast.
        path: output file, ending in ``.png``.
        center_lps: point the three planes go through (LPS mm); default the lesion core's
            centroid, or the brain's centroid when the case has no lesion.
        pixel_mm: size of a montage pixel (mm); slices are resampled to it.
    """
    mask = case.mask()
    points = _points_lps(mask)
    center = np.asarray(center_lps if center_lps is not None else _default_center(case, points), float)
    low, high = points.min(0) - FIELD_MARGIN_MM, points.max(0) + FIELD_MARGIN_MM
    windows = {c: _window(image, mask) for c, image in case.images.items()}
    colors = _label_colors(case)

    rows = []
    for columns, rows_axis in PLANES.values():
        grid = _plane_grid(np.asarray(columns), np.asarray(rows_axis), center, low, high, pixel_mm)
        panels = [_gray(_slice(image, grid, sitk.sitkLinear), windows[c]) for c, image in case.images.items()]
        if case.label is not None:
            label = _slice(case.label, grid, sitk.sitkNearestNeighbor).astype(int)
            overlay = panels[-1].astype(np.float32)
            color = colors[label]
            alpha = LABEL_OPACITY * (label > 0)[..., None]
            panels.append(np.rint((1 - alpha) * overlay + alpha * color).astype(np.uint8))
        rows.append(panels)
    picture = _assemble(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(picture, isVector=True), str(path))
    return path


def _default_center(case: Case, brain_points: np.ndarray) -> np.ndarray:
    if case.label is not None:
        try:
            return core_centroid_lps(case.label, case.pathology)
        except LesionPlacementError:  # no core: a healthy case
            pass
    return brain_points.mean(0)


def _points_lps(mask: sitk.Image) -> np.ndarray:
    """LPS positions (mm) of the mask's voxels, shape (n, 3)."""
    return voxel_points_lps(mask, np.argwhere(sitk.GetArrayViewFromImage(mask) != 0))


def _window(image: sitk.Image, mask: sitk.Image) -> tuple[float, float]:
    values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) != 0]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, WINDOW_PERCENTILES)
    return float(low), float(max(high, low + 1e-6))


def _plane_grid(
    columns: np.ndarray, rows: np.ndarray, center: np.ndarray, low: np.ndarray, high: np.ndarray, pixel_mm: float
) -> sitk.Image:
    """A one-voxel-thick grid through ``center`` spanning the box [low, high] (LPS mm) along the
    plane's column and row directions."""
    normal = np.cross(columns, rows)
    starts = [min(d @ low, d @ high) for d in (columns, rows)]
    lengths = [abs(d @ (high - low)) for d in (columns, rows)]
    size = [max(int(np.ceil(n / pixel_mm)), 1) for n in lengths] + [1]
    origin = center + (starts[0] - center @ columns) * columns + (starts[1] - center @ rows) * rows
    grid = sitk.Image(size, sitk.sitkUInt8)
    grid.SetSpacing((pixel_mm, pixel_mm, pixel_mm))
    grid.SetOrigin(tuple(float(v) for v in origin))
    grid.SetDirection(tuple(np.stack([columns, rows, normal], axis=1).ravel()))
    return grid


def _slice(image: sitk.Image, grid: sitk.Image, interpolator: int) -> np.ndarray:
    """``image`` resampled on the plane ``grid``, float32 (rows, columns)."""
    plane = sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(), interpolator, 0.0)
    return sitk.GetArrayFromImage(plane)[0]


def _gray(plane: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Windowed plane as uint8 RGB (rows, columns, 3)."""
    low, high = window
    gray = np.rint(255 * np.clip((plane - low) / (high - low), 0, 1)).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _label_colors(case: Case) -> np.ndarray:
    """Label value -> RGB in 0..255, shape (256, 3)."""
    colors = np.zeros((256, 3), np.float32)
    for info in get_pathology(case.pathology).labels:
        colors[info.value] = 255 * np.asarray(info.color)
    return colors


def _assemble(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Panels laid out in a grid (each centred in its cell), uint8 (height, width, 3)."""
    widths = [max(row[k].shape[1] for row in rows) for k in range(len(rows[0]))]
    heights = [row[0].shape[0] for row in rows]
    picture = np.zeros((sum(heights) + GAP_PIXELS * (len(rows) + 1), sum(widths) + GAP_PIXELS * (len(widths) + 1), 3), np.uint8)
    y = GAP_PIXELS
    for row, height in zip(rows, heights):
        x = GAP_PIXELS
        for panel, width in zip(row, widths):
            left = x + (width - panel.shape[1]) // 2
            picture[y : y + panel.shape[0], left : left + panel.shape[1]] = panel
            x += width + GAP_PIXELS
        y += height + GAP_PIXELS
    return picture
