"""Scalar volume nodes <-> SimpleITK images, and volume files through storage nodes.

A volume node stores its voxels in a vtkImageData (x fastest, so the numpy view is (z, y, x) like
SimpleITK's) and its geometry as an IJK-to-RAS matrix; SimpleITK images carry the same geometry in
LPS. The conversion negates the x and y rows of the directions and origin and copies voxels bit
for bit, keeping the pixel type.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import VTK_SIGNED_CHAR
from vtkmodules.vtkCommonDataModel import vtkImageData

from ..core.errors import ImageFileError, SynthPathologyError
from ..core.image_io import image_suffix
from .scene import role_node

# RAS <-> LPS: negate x and y. Its own inverse.
RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0])


def ras_geometry(image: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``image``'s geometry in RAS: directions (3, 3) whose columns are the i, j, k axes, spacing
    (3,) in mm, and the origin (3,) in RAS mm (the centre of voxel 0, 0, 0)."""
    directions = RAS_FROM_LPS @ np.reshape(image.GetDirection(), (3, 3))
    return directions, np.asarray(image.GetSpacing()), RAS_FROM_LPS @ np.asarray(image.GetOrigin())


def ijk_to_ras_matrix(image: sitk.Image) -> np.ndarray:
    """The (4, 4) matrix taking ``image``'s voxel indices (i, j, k, 1) to RAS mm."""
    directions, spacing, origin = ras_geometry(image)
    matrix = np.eye(4)
    matrix[:3, :3] = directions * spacing
    matrix[:3, 3] = origin
    return matrix


def is_scalar_volume_node(node) -> bool:
    """Whether ``node`` is a scalar volume node (label maps included; vector and tensor volumes,
    which Slicer derives from scalar volumes, excluded)."""
    return (
        node is not None
        and node.IsA("vtkMRMLScalarVolumeNode")
        and not node.IsA("vtkMRMLVectorVolumeNode")
        and not node.IsA("vtkMRMLTensorVolumeNode")
    )


def contrast_volume_nodes(scene) -> dict:
    """The scene's scalar volume nodes that name a contrast ("..._t1ce", "FLAIR", "t2w": see
    :func:`~SynthPathologyLib.io.brats.contrast_from_name`), the first one of each contrast, as
    contrast -> node; synthesized outputs ("<source> (synthetic)") are left out."""
    from ..io.brats import contrast_from_name

    nodes = scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    found: dict = {}
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        contrast = contrast_from_name(node.GetName() or "")
        if contrast and contrast not in found and not node.GetName().endswith(" (synthetic)"):
            found[contrast] = node
    return found


def volume_node_to_sitk(node) -> sitk.Image:
    """A SimpleITK image (LPS geometry) holding a copy of a scalar volume node's voxels.

    Raises:
        SynthPathologyError: ``node`` is not a scalar volume node, has no voxels or several
            components per voxel, or lies under a transform (harden it first: the library works
            in the node's own grid).
    """
    if not is_scalar_volume_node(node):
        kind = node.GetClassName() if node is not None else "nothing"
        raise SynthPathologyError(f"expected a scalar volume node, got {kind} {_node_name(node)}")
    image_data = node.GetImageData()
    if image_data is None or image_data.GetPointData().GetScalars() is None:
        raise SynthPathologyError(f"volume node {_node_name(node)} holds no voxels")
    if image_data.GetNumberOfScalarComponents() != 1:
        raise SynthPathologyError(
            f"volume node {_node_name(node)} has {image_data.GetNumberOfScalarComponents()} "
            "components per voxel; expected one"
        )
    if node.GetParentTransformNode() is not None:
        raise SynthPathologyError(
            f"volume node {_node_name(node)} is under transform {_node_name(node.GetParentTransformNode())}; "
            "harden the transform first"
        )
    size = image_data.GetDimensions()
    array = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars()).reshape(size[::-1])
    image = sitk.GetImageFromArray(array)  # copies

    directions = np.zeros((3, 3))
    node.GetIJKToRASDirections(directions)
    spacing = np.asarray(node.GetSpacing())
    # Voxel (0, 0, 0) of the array is IJK index extent-min, which is not always 0.
    first_index = np.asarray(image_data.GetExtent()[::2], float)
    origin_ras = np.asarray(node.GetOrigin()) + directions @ (spacing * first_index)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((RAS_FROM_LPS @ directions).ravel().tolist())
    image.SetOrigin((RAS_FROM_LPS @ origin_ras).tolist())
    return image


def sitk_to_volume_node(scene, image: sitk.Image, name: str, node=None, *, label_map: bool = False,
                        box: tuple[slice, ...] | None = None, patch: np.ndarray | None = None):
    """Put ``image`` in a volume node: ``node`` if given (its voxels and geometry are replaced),
    else a new one added to ``scene``.

    Args:
        scene: the MRML scene.
        image: 3D scalar image, LPS geometry; its pixel type is kept.
        name: name of a new node (an existing ``node`` keeps its name).
        node: a scalar volume node to reuse, so a rerun replaces its result.
        label_map: make a new node a label map volume node (vtkMRMLLabelMapVolumeNode).
        box, patch: put ``image`` with the voxels of ``box`` ((z, y, x) slices) replaced by
            ``patch`` (``image``'s pixel type) instead: a synthesis result, without building its
            whole image.

    Returns:
        The volume node, with display nodes.
    """
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise SynthPathologyError(
            f"{name}: expected a 3D scalar image, got {image.GetDimension()}D with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s) per voxel"
        )
    if node is None:
        node = scene.AddNewNodeByClass(_volume_class(label_map), name)
    elif not is_scalar_volume_node(node):
        raise SynthPathologyError(f"cannot put an image in {node.GetClassName()} {_node_name(node)}")
    directions, spacing, origin = ras_geometry(image)
    array = sitk.GetArrayViewFromImage(image)
    was_modifying = node.StartModify()  # one Modified event: views showing the node update once
    node.SetIJKToRASDirections(directions)
    node.SetSpacing(spacing.tolist())
    node.SetOrigin(origin.tolist())
    if not _copy_into_image_data(node.GetImageData(), array):
        node.SetAndObserveImageData(_vtk_image(array))
    if box is not None:
        scalars = node.GetImageData().GetPointData().GetScalars()
        numpy_support.vtk_to_numpy(scalars).reshape(array.shape)[box] = patch
        scalars.Modified()
        node.GetImageData().Modified()
    node.EndModify(was_modifying)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def sitk_to_role_volume_node(scene, image: sitk.Image, role: str, name: str, *, display_like=None,
                             box: tuple[slice, ...] | None = None, patch: np.ndarray | None = None):
    """Put ``image`` in the scalar volume node playing ``role`` (see
    :func:`~SynthPathologyLib.mrml.scene.role_node`): created, named ``name``, on first use and
    replaced on every later run, so reruns do not pile up nodes.

    With ``display_like`` (a scalar volume node) the node shows with that node's colors and fixed
    window/level: an original and its synthetic version then compare at one window, and no
    automatic window/level is recomputed from the voxels (~0.4 s per update of a 1 mm brain).
    ``box`` and ``patch`` replace part of ``image`` as in :func:`sitk_to_volume_node`.
    """
    node = role_node(scene, role, "vtkMRMLScalarVolumeNode", name)
    if display_like is not None:
        _display_like(node, display_like)
    return sitk_to_volume_node(scene, image, name, node, box=box, patch=patch)


def _display_like(node, source) -> None:
    """Give ``node`` the colors and the current window/level of ``source``, fixed."""
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display, shown = node.GetDisplayNode(), source.GetDisplayNode()
    if shown is None:
        return
    display.SetAutoWindowLevel(False)
    display.SetWindowLevel(shown.GetWindow(), shown.GetLevel())
    display.SetAndObserveColorNodeID(shown.GetColorNodeID())


def _volume_class(label_map: bool) -> str:
    return "vtkMRMLLabelMapVolumeNode" if label_map else "vtkMRMLScalarVolumeNode"


def vtk_scalars(array: np.ndarray):
    """A VTK data array holding a copy of ``array`` (z, y, x) in VTK's voxel order (x fastest)."""
    # numpy_support maps int8 to VTK_CHAR, whose signedness is platform-defined.
    vtk_type = VTK_SIGNED_CHAR if array.dtype == np.int8 else None
    return numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True, array_type=vtk_type)


def _copy_into_image_data(image_data: vtkImageData | None, array: np.ndarray) -> bool:
    """Copy ``array`` (z, y, x) into ``image_data``'s voxels when their shape and type match
    (True), else leave it (False). Reusing the buffer of a node updated at every click saves
    allocating and first touching a new one (~0.1 s per 1 mm brain volume here)."""
    scalars = image_data.GetPointData().GetScalars() if image_data is not None else None
    if scalars is None or scalars.GetNumberOfComponents() != 1 or image_data.GetExtent()[::2] != (0, 0, 0) \
            or image_data.GetDimensions() != array.shape[::-1]:
        return False
    voxels = numpy_support.vtk_to_numpy(scalars)
    if voxels.dtype != array.dtype:
        return False
    np.copyto(voxels.reshape(array.shape), array)
    scalars.Modified()
    image_data.Modified()
    return True


def _vtk_image(array: np.ndarray) -> vtkImageData:
    """A vtkImageData holding a copy of ``array`` (z, y, x), with Slicer's unit spacing and zero
    origin (the volume node carries the geometry)."""
    image_data = vtkImageData()
    image_data.SetDimensions(*array.shape[::-1])
    image_data.GetPointData().SetScalars(vtk_scalars(array))
    return image_data


def load_volume_node(scene, path: str | os.PathLike, name: str | None = None, *, label_map: bool = False):
    """Load a volume file into a new volume node through a volume archetype storage node (the
    way Slicer loads volumes; ``slicer.util.loadVolume`` needs the desktop application).

    Args:
        scene: the MRML scene.
        path: NIfTI, NRRD, MetaImage or any file Slicer's ITK readers take.
        name: node name; defaults to the file name without its suffix.
        label_map: load as a label map volume node.

    Raises:
        ImageFileError: the file is missing or unreadable (no node is left in the scene).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: no such file")
    suffix = image_suffix(path) or path.suffix
    node = scene.AddNewNodeByClass(_volume_class(label_map), name or path.name[: -len(suffix)])
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    if not storage.ReadData(node):
        scene.RemoveNode(storage)
        scene.RemoveNode(node)
        raise ImageFileError(f"{path}: Slicer cannot read this volume file")
    node.CreateDefaultDisplayNodes()
    return node


def save_volume_node(node, path: str | os.PathLike) -> Path:
    """Write a volume node to ``path`` (format from the suffix, compressed where possible)
    through a storage node that is not added to the scene. Returns the path."""
    path = Path(path)
    if image_suffix(path) is None:
        raise ImageFileError(f"{path}: unsupported volume file type")
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = node.CreateDefaultStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(True)
    if not storage.WriteData(node):
        raise ImageFileError(f"{path}: cannot write volume node {_node_name(node)}")
    return path


def _node_name(node) -> str:
    return repr(node.GetName()) if node is not None else "(none)"
