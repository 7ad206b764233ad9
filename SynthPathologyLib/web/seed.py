"""The lesion seeds in the browser: Markups ROIs placed by clicks in a slice view.

Each ROI is one lesion, as :func:`~SynthPathologyLib.mrml.lesion_specs_from_seed_nodes` reads it:
its centre is the seed (RAS mm), its radii half the tumor core's diameters. While placing is on, a
left click in any slice view moves the current seed (the last one placed) to the clicked point, or,
while adding seeds, places a new one there at the sliders' size: the interactor's event position
(view pixels, origin bottom-left) through the slice node's XYToRAS matrix; the other slice views
then move to planes through it. While placing is off, the ROIs' handles are interactive and resize
or move them in the views.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from vtkmodules.vtkCommonCore import vtkCommand

SEED_NAME = "Lesion seed"


def xy_to_ras(slice_node, x: float, y: float) -> np.ndarray:
    """RAS (mm) of view pixel (x, y) (origin at the bottom-left) in the slice node's plane."""
    matrix = slice_node.GetXYToRAS()
    return np.asarray(matrix.MultiplyPoint((float(x), float(y), 0.0, 1.0))[:3])


def matrix_values(matrix) -> list[float]:
    """A vtkMatrix4x4 as 16 floats, row by row."""
    return [matrix.GetElement(r, c) for r in range(4) for c in range(4)]


class SeedPlacer:
    """Owns the seed ROI nodes and places them on clicks in the slice views.

    Args:
        scene: the MRML scene.
        slice_views: trame-slicer slice views (their interactors and slice nodes are observed).
        on_click: called with the clicked point (RAS mm) of a placing click and the clicked view;
            it places the seed there (:meth:`click_at`) now or as part of its own work.
        on_changed: called after any change of a seed (click, handles, sizes, removal).

    Attributes:
        nodes: the seeds' ROI nodes, in the order placed; the last one is the current seed, which
            the size sliders resize.
        initial_diameters_mm: size (R-L, A-P, S-I mm) of the next seed placed without a current
            one to copy, and of every added seed: the sliders' values.
    """

    def __init__(self, scene, slice_views, on_click: Callable, on_changed: Callable):
        self.scene = scene
        self.nodes: list = []
        self.placing = True
        self.initial_diameters_mm = (30.0, 30.0, 30.0)
        self._on_click = on_click
        self._on_changed = on_changed
        self._slice_nodes = [view.get_view_node() for view in slice_views]
        for view in slice_views:
            view.interactor().AddObserver(
                vtkCommand.LeftButtonPressEvent, lambda interactor, _event, v=view: self._click(interactor, v)
            )

    @property
    def node(self):
        """The current seed's ROI node (None before the first seed)."""
        return self.nodes[-1] if self.nodes else None

    @property
    def is_placed(self) -> bool:
        return self.node is not None and self.node.GetNumberOfDefinedControlPoints() > 0

    def center_ras(self) -> tuple[float, float, float] | None:
        """The current seed's centre (RAS mm)."""
        if not self.is_placed:
            return None
        center = np.zeros(3)
        self.node.GetCenterWorld(center)
        return tuple(float(v) for v in center)

    def diameters_mm(self) -> tuple[float, float, float] | None:
        """The current seed's core diameters (mm)."""
        if self.node is None:
            return None
        radius = np.zeros(3)
        self.node.GetRadiusXYZ(radius)
        return tuple(float(2 * r) for r in radius)

    def place(self, center_ras, diameters_mm, node=None) -> None:
        """Put the current seed (or ``node``; a new seed when there is none) at ``center_ras``
        (RAS mm) with the core's ``diameters_mm`` (R-L, A-P, S-I)."""
        node = node or self.node or self._new_node()
        with _one_modification(node):
            node.SetCenter(*(float(v) for v in center_ras))
            node.SetRadiusXYZ(*(float(d) / 2 for d in diameters_mm))

    def set_diameters(self, diameters_mm) -> None:
        """The sliders' size: of the seeds placed from now on, and of the current seed (no-op when
        unchanged, so state echoes do not loop)."""
        self.initial_diameters_mm = tuple(float(d) for d in diameters_mm)
        if self.node is None or np.allclose(self.diameters_mm(), diameters_mm):
            return
        self.node.SetRadiusXYZ(*(float(d) / 2 for d in diameters_mm))

    def set_placing(self, placing: bool) -> None:
        """Click-to-place on, handles off, or the reverse."""
        self.placing = bool(placing)
        for node in self.nodes:
            node.GetDisplayNode().SetHandlesInteractive(not self.placing)

    def remove(self) -> None:
        """Remove every seed."""
        self._remove_from(0)

    def _remove_from(self, count: int) -> None:
        """Remove the seeds after the first ``count``."""
        removed, self.nodes = self.nodes[count:], self.nodes[:count]
        for node in removed:
            self.scene.RemoveNode(node)
        if removed:
            self._on_changed()

    def _new_node(self):
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", SEED_NAME)
        node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        display.SetFillOpacity(0.0)  # outline only: the lesion inside stays visible
        display.SetPropertiesLabelVisibility(False)  # the name would sit on the lesion
        display.SetPointLabelsVisibility(False)
        display.SetHandlesInteractive(not self.placing)
        node.AddObserver(vtkCommand.ModifiedEvent, lambda *_: self._on_changed())
        self.nodes.append(node)
        return node

    def click_at(self, center_ras, add: bool = False) -> None:
        """A placing click at ``center_ras`` (RAS mm): a new seed there at the sliders' size
        (``add``, or no seed yet), else the current seed moved there, keeping its size; every slice
        plane moves through it."""
        if add or self.node is None:
            self.place(center_ras, self.initial_diameters_mm, self._new_node())
        else:
            self.place(center_ras, self.diameters_mm())
        for slice_node in self._slice_nodes:
            slice_node.JumpSliceByOffsetting(*center_ras)

    def snapshot(self) -> tuple:
        """Every seed (centre, diameters) and every slice plane's offset, for :meth:`restore`."""
        seeds = [(node.GetCenter(), node.GetSize()) for node in self.nodes]
        return seeds, [node.GetSliceOffset() for node in self._slice_nodes]

    def restore(self, snapshot: tuple) -> None:
        """Put the seeds and the slice planes back as :meth:`snapshot` found them (a seed added
        since is removed)."""
        seeds, offsets = snapshot
        self._remove_from(len(seeds))
        for node, (center, size) in zip(self.nodes, seeds):
            self.place(center, size, node)
        for node, offset in zip(self._slice_nodes, offsets):
            node.SetSliceOffset(offset)

    def _click(self, interactor, view) -> None:
        if not self.placing:
            return
        x, y = interactor.GetEventPosition()
        self._on_click(tuple(float(v) for v in xy_to_ras(view.get_view_node(), x, y)), view)


class _one_modification:
    """StartModify/EndModify around several setters: one ModifiedEvent instead of several."""

    def __init__(self, node):
        self.node = node

    def __enter__(self):
        self._was = self.node.StartModify()

    def __exit__(self, *_):
        self.node.EndModify(self._was)
