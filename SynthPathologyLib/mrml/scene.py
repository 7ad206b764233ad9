"""MRML scene wiring shared by desktop Slicer and the ``slicer-core`` wheel (no Qt, no ``slicer.app``).

- :func:`create_headless_scene`: a scene with the application logic and the module logics that
  loading and saving need, for scripts and tests outside desktop Slicer.
- Node roles: output nodes carry the attribute :data:`ROLE_ATTRIBUTE` so that running again
  finds and replaces them instead of adding new ones.
- Slice views: the slice composite nodes that show a volume over another, created headless when
  no view exists.
- Scene bundles (``.mrb``): save and load a whole scene.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import slicer

from ..core.errors import SynthPathologyError

ROLE_ATTRIBUTE = "SynthPathology.Role"
"""Node attribute naming what an output node holds, e.g. "lesion" or "synthetic:t1"."""

# Slicer's standard slice views: layout name, orientation, layout color (RGB in [0, 1]).
STANDARD_SLICE_VIEWS = (
    ("Red", "Axial", (0.952, 0.290, 0.200)),
    ("Yellow", "Sagittal", (0.929, 0.835, 0.298)),
    ("Green", "Coronal", (0.431, 0.690, 0.294)),
)


@dataclass
class HeadlessScene:
    """A scene and the logics registered with its application logic.

    The application logic holds weak references to module logics: this object keeps them (and the
    bundle cache folder) alive as long as the scene is used.
    """

    scene: slicer.vtkMRMLScene
    app_logic: slicer.vtkSlicerApplicationLogic
    colors_logic: slicer.vtkMRMLColorLogic
    volumes_logic: slicer.vtkSlicerVolumesLogic
    markups_logic: slicer.vtkSlicerMarkupsLogic
    segmentations_logic: slicer.vtkSlicerSegmentationsModuleLogic
    cache_dir: tempfile.TemporaryDirectory = field(repr=False)


def create_headless_scene() -> HeadlessScene:
    """A new scene wired as desktop Slicer wires its own, minus views and Qt.

    Registers the Colors (default color tables, needed by volume display nodes), Volumes, Markups
    and Segmentations logics (which register their storage nodes, needed to load ``.mrb`` files),
    and gives the scene a data I/O manager with a cache folder, where
    :func:`load_scene_bundle` unpacks bundles.
    """
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    colors_logic = app_logic.GetColorLogic()
    colors_logic.SetMRMLScene(scene)  # adds the default color tables
    app_logic.SetModuleLogic("Colors", colors_logic)
    logics = {}
    for name, logic_class in (
        ("Volumes", slicer.vtkSlicerVolumesLogic),
        ("Markups", slicer.vtkSlicerMarkupsLogic),
        ("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
    ):
        logic = logic_class()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(name, logic)
        logics[name] = logic

    cache_dir = tempfile.TemporaryDirectory(prefix="synthpathology-mrml-")
    cache_manager = slicer.vtkCacheManager()
    cache_manager.SetRemoteCacheDirectory(cache_dir.name)
    io_manager = slicer.vtkDataIOManager()
    io_manager.SetCacheManager(cache_manager)
    scene.SetDataIOManager(io_manager)
    return HeadlessScene(
        scene,
        app_logic,
        colors_logic,
        logics["Volumes"],
        logics["Markups"],
        logics["Segmentations"],
        cache_dir,
    )


def nodes_of_class(scene: slicer.vtkMRMLScene, class_name: str) -> list:
    """The scene's nodes of ``class_name`` (or a subclass), in scene order."""
    nodes = scene.GetNodesByClass(class_name)
    # The caller owns the returned collection (C++: "must delete"); unreleased, it would keep every
    # listed node, and its image data, alive after the node leaves the scene (as slicer.util does).
    nodes.UnRegister(None)
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


def find_role_node(scene: slicer.vtkMRMLScene, role: str, class_name: str = "vtkMRMLNode"):
    """The first node of ``class_name`` (or a subclass) whose role is ``role``, or None."""
    return next((n for n in nodes_of_class(scene, class_name) if n.GetAttribute(ROLE_ATTRIBUTE) == role), None)


def role_node(scene: slicer.vtkMRMLScene, role: str, class_name: str, name: str):
    """The node of ``class_name`` playing ``role``: the existing one, else a new one called ``name``.

    This is how outputs are replaced on a rerun instead of piling up.
    """
    node = find_role_node(scene, role, class_name)
    if node is None:
        node = scene.AddNewNodeByClass(class_name, name)
        node.SetAttribute(ROLE_ATTRIBUTE, role)
    return node


def ensure_slice_views(scene: slicer.vtkMRMLScene) -> list:
    """The scene's slice composite nodes, one per slice view.

    Desktop Slicer and trame-slicer create them with their views; a scene without any (headless
    scripts, tests) gets Slicer's standard Red (axial), Yellow (sagittal) and Green (coronal) slice
    nodes and their composite nodes, so view settings can be made and saved with the scene.
    """
    if not nodes_of_class(scene, "vtkMRMLSliceCompositeNode"):
        if scene.GetDefaultNodeByClass("vtkMRMLSliceNode") is None:
            slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
        for layout_name, orientation, color in STANDARD_SLICE_VIEWS:
            # Created through the scene so they take its default slice node (orientation presets);
            # the layout name set before AddNode makes the singleton IDs Slicer uses
            # ("vtkMRMLSliceNodeRed", "vtkMRMLSliceCompositeNodeRed").
            slice_node = scene.CreateNodeByClass("vtkMRMLSliceNode")
            slice_node.UnRegister(None)  # CreateNodeByClass hands over a reference Python also holds
            slice_node.SetName(layout_name)
            slice_node.SetLayoutName(layout_name)
            slice_node.SetLayoutColor(color)
            slice_node.SetOrientation(orientation)
            scene.AddNode(slice_node)
            composite = scene.CreateNodeByClass("vtkMRMLSliceCompositeNode")
            composite.UnRegister(None)
            composite.SetName(f"SliceComposite{layout_name}")
            composite.SetLayoutName(layout_name)
            scene.AddNode(composite)
    return nodes_of_class(scene, "vtkMRMLSliceCompositeNode")


def show_overlay(scene: slicer.vtkMRMLScene, background_node, foreground_node, opacity: float = 0.5) -> list:
    """Show ``foreground_node`` over ``background_node`` in every slice view, at ``opacity``.

    Args:
        scene: the scene holding both volume nodes.
        background_node: volume shown underneath (e.g. the original T1).
        foreground_node: volume blended on top (e.g. the synthetic T1).
        opacity: foreground opacity in [0, 1]; 0 shows only the background, 1 only the foreground.

    Returns:
        The slice composite nodes that were set (see :func:`ensure_slice_views`).
    """
    if not 0.0 <= opacity <= 1.0:
        raise SynthPathologyError(f"overlay opacity must be in [0, 1], got {opacity}")
    composites = ensure_slice_views(scene)
    for composite in composites:
        composite.SetBackgroundVolumeID(background_node.GetID())
        composite.SetForegroundVolumeID(foreground_node.GetID())
        composite.SetForegroundOpacity(opacity)
    return composites


def save_scene_bundle(scene: slicer.vtkMRMLScene, path: str | os.PathLike) -> Path:
    """Save the whole scene as a Slicer scene bundle (``.mrb``: the ``.mrml`` file and every node's
    data, zipped). Nodes without a storage node get a default one. Returns the path."""
    path = Path(path).resolve()
    if path.suffix.lower() != ".mrb":
        raise SynthPathologyError(f"{path}: a scene bundle file name must end with .mrb")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not scene.WriteToMRB(str(path)):
        raise SynthPathologyError(f"{path}: cannot save the scene bundle")
    return path


def load_scene_bundle(scene: slicer.vtkMRMLScene, path: str | os.PathLike, *, clear: bool = True) -> None:
    """Load a scene bundle (``.mrb``) into ``scene``, replacing its content unless ``clear`` is False.

    The scene needs a data I/O manager with a cache folder (desktop Slicer's has one;
    :func:`create_headless_scene` makes one) and the logics that register the bundle's storage
    node classes.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise SynthPathologyError(f"{path}: no such scene bundle")
    if not scene.ReadFromMRB(str(path), clear):
        raise SynthPathologyError(f"{path}: cannot load the scene bundle (see the log for the reason)")
