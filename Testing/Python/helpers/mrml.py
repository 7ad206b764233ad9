"""Helpers shared by the MRML test modules: node counts, ROI seeds, voxel views."""

from __future__ import annotations

from collections import Counter

import numpy as np
import SimpleITK as sitk
from vtkmodules.vtkCommonMath import vtkMatrix4x4  # VTK comes with slicer-core


def voxels(image: sitk.Image) -> np.ndarray:
    """The image's voxels, (z, y, x), as a copy: a view would dangle once a temporary image is freed."""
    return sitk.GetArrayFromImage(image)


def node_counts(scene) -> Counter:
    return Counter(scene.GetNthNode(i).GetClassName() for i in range(scene.GetNumberOfNodes()))


def vtk_matrix(matrix: np.ndarray) -> vtkMatrix4x4:
    """A vtkMatrix4x4 from a (3, 3) linear part or a full (4, 4) matrix."""
    full = np.eye(4)
    full[: len(matrix), : len(matrix)] = matrix
    result = vtkMatrix4x4()
    result.DeepCopy(full.ravel())
    return result


def add_roi(scene, center_ras, radius, axes_ras: np.ndarray | None = None):
    """An ROI seed: centre (RAS mm), radius per axis (mm), axes (columns, RAS) if rotated."""
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "Seed")
    roi.SetCenter(*center_ras)
    roi.SetRadiusXYZ(*radius)
    if axes_ras is not None:
        roi.SetAndObserveObjectToNodeMatrix(vtk_matrix(axes_ras))
    return roi
