"""Helpers shared by the MRML test modules: a case's volume nodes, node counts, ROI seeds, voxel views."""

from __future__ import annotations

from collections import Counter

import numpy as np
import SimpleITK as sitk
from vtkmodules.vtkCommonMath import vtkMatrix4x4  # VTK comes with slicer-core

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.image_io import lps_to_ras
from SynthPathologyLib.mrml.volumes import sitk_to_volume_node
from SynthPathologyLib.pathologies import get_pathology

NAMES = {"t1": "Patient T1", "t1c": "Patient T1c", "t2": "Patient T2", "flair": "Patient FLAIR"}
"""Names of the volume nodes :func:`load_case_into_scene` makes."""


def load_case_into_scene(scene, case: Case) -> dict:
    """contrast -> a new volume node ("Patient <contrast>") of each glioma contrast of ``case``."""
    return {c: sitk_to_volume_node(scene, case.images[c], NAMES[c]) for c in get_pathology("glioma").contrasts}


def seed_ras(case: Case) -> np.ndarray:
    """A point in the left hemisphere's white matter of the phantom (RAS mm)."""
    size = np.array(case.reference.GetSize())
    index = size / 2 + np.array([12, 4, 6]) / np.array(case.reference.GetSpacing())
    return np.array(lps_to_ras(case.reference.TransformContinuousIndexToPhysicalPoint(index.tolist())))


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
