"""The lesion seed in the browser: a Markups ROI placed by a click in a slice view.

The ROI is what :func:`~SynthPathologyLib.mrml.lesion_spec_from_seed_node` reads: its centre is
the seed (RAS mm), its radii half the tumor core's diameters. While placing is on, a left click in
any slice view moves the centre to the clicked point: the interactor's event position (view
pixels, origin bottom-left) through the slice node's XYToRAS matrix; the other slice views then
move to planes through the seed. While placing is off, the
ROI's handles are interactive and resize or move it in the views.
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
    """Owns the seed ROI node and places it on clicks in the slice views.

    Args:
        scene: the MRML scene.
        slice_views: trame-slicer slice views (their interactors and slice nodes are observed).
        on_click: called with the clicked point (RAS mm) of a placing click and the clicked view;
            it places the seed there (:meth:`move_to`) now or as part of its own work.
        on_changed: called after any change of the ROI (click, handles, sizes).
    """

    def __init__(self, scene, slice_views, on_click: Callable, on_changed: Callable):
        self.scene = scene
        self.node = None
        self.placing = True
        self.initial_diameters_mm = (30.0, 30.0, 30.0)  # size of the first seed placed
        self._on_click = on_click
        self._on_changed = on_changed
        self._slice_nodes = [view.get_view_node() for view in slice_views]
        for view in slice_views:
            view.interactor().AddObserver(
                vtkCommand.LeftButtonPressEvent, lambda interactor, _event, v=view: self._click(interactor, v)
            )

    @property
    def is_placed(self) -> bool:
        return self.node is not None and self.node.GetNumberOfDefinedControlPoints() > 0

    def center_ras(self) -> tuple[float, float, float] | None:
        if not self.is_placed:
            return None
        center = np.zeros(3)
        self.node.GetCenterWorld(center)
        return tuple(float(v) for v in center)

    def diameters_mm(self) -> tuple[float, float, float] | None:
        if self.node is None:
            return None
        radius = np.zeros(3)
        self.node.GetRadiusXYZ(radius)
        return tuple(float(2 * r) for r in radius)

    def place(self, center_ras, diameters_mm) -> None:
        """Put the seed at ``center_ras`` (RAS mm) with the core's ``diameters_mm`` (R-L, A-P, S-I)."""
        node = self._ensure_node()
        with _one_modification(node):
            node.SetCenter(*(float(v) for v in center_ras))
            node.SetRadiusXYZ(*(float(d) / 2 for d in diameters_mm))

    def set_diameters(self, diameters_mm) -> None:
        """Resize a placed seed (mm); no-op when unchanged, so state echoes do not loop."""
        if self.node is None or np.allclose(self.diameters_mm(), diameters_mm):
            return
        self.node.SetRadiusXYZ(*(float(d) / 2 for d in diameters_mm))

    def set_placing(self, placing: bool) -> None:
        """Click-to-place on, handles off, or the reverse."""
        self.placing = bool(placing)
        if self.node is not None:
            self.node.GetDisplayNode().SetHandlesInteractive(not self.placing)

    def remove(self) -> None:
        if self.node is not None:
            self.scene.RemoveNode(self.node)
            self.node = None

    def _ensure_node(self):
        if self.node is None:
            self.node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", SEED_NAME)
            self.node.CreateDefaultDisplayNodes()
            display = self.node.GetDisplayNode()
            display.SetFillOpacity(0.0)  # outline only: the lesion inside stays visible
            display.SetPropertiesLabelVisibility(False)  # the name would sit on the lesion
            display.SetPointLabelsVisibility(False)
            display.SetHandlesInteractive(not self.placing)
            self.node.AddObserver(vtkCommand.ModifiedEvent, lambda *_: self._on_changed())
        return self.node

    def move_to(self, center_ras) -> None:
        """Put the seed at ``center_ras`` (RAS mm), keeping its size (the initial size for the
        first seed); every slice plane moves through it."""
        self.place(center_ras, self.diameters_mm() or self.initial_diameters_mm)
        for slice_node in self._slice_nodes:
            slice_node.JumpSliceByOffsetting(*center_ras)

    def snapshot(self) -> tuple:
        """The seed (centre, diameters; None when not placed) and every slice plane's offset, for
        :meth:`restore`."""
        return self.center_ras(), self.diameters_mm(), [node.GetSliceOffset() for node in self._slice_nodes]

    def restore(self, snapshot: tuple) -> None:
        """Put the seed and the slice planes back as :meth:`snapshot` found them."""
        center, diameters, offsets = snapshot
        if center is None:
            self.remove()
        else:
            self.place(center, diameters)
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
