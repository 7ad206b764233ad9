"""Render the README's Slicer figure and the module icons offscreen from a real slicer-core scene.

The default brain is loaded into a headless MRML scene, an ROI seed is placed, the lesion is
synthesized with ``synthesize_in_scene`` exactly as the Slicer module does, and Slicer's own slice
logic (vtkMRMLSliceLogic: reslicing and layer blending in VTK) renders the Red (axial) and Green
(coronal) views: original FLAIR, synthetic FLAIR, and the synthetic FLAIR with the lesion label
layer. The ROI outline is drawn from the seed node's bounds.

    python docs/render_slicer_figures.py            # writes docs/slicer_lesion.png and the icons
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import slicer  # noqa: E402
from vtkmodules.util.numpy_support import vtk_to_numpy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SynthPathologyLib.cli.synthesis import DEMO_SEED_RAS  # noqa: E402
from SynthPathologyLib.mrml import case_to_volume_nodes, create_headless_scene, synthesize_in_scene  # noqa: E402
from SynthPathologyLib.mrml.scene import ensure_slice_views  # noqa: E402
from SynthPathologyLib.mrml.volumes import sitk_to_volume_node  # noqa: E402
from SynthPathologyLib.pathologies import get_pathology  # noqa: E402
from SynthPathologyLib.phantom.generator import default_brain_case  # noqa: E402

VIEW_PIXELS = 320
FIELD_OF_VIEW_MM = 110.0


def pathology_color_table(scene, pathology: str = "glioma"):
    """A color table giving each label value its segment color (label 0 transparent)."""
    labels = get_pathology(pathology).labels
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", f"{pathology} labels")
    table.SetTypeToUser()
    table.SetNumberOfColors(max(label.value for label in labels) + 1)
    table.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    for label in labels:
        table.SetColor(label.value, label.name, *label.color, 1.0)
    return table


def render_view(app, layout_name: str, background, foreground=None, label=None, opacity=1.0) -> np.ndarray:
    """(H, W, 3) uint8 image of one slice view, centred on the seed, as Slicer's slice logic blends it."""
    composite = app.scene.GetNodeByID(f"vtkMRMLSliceCompositeNode{layout_name}")
    composite.SetBackgroundVolumeID(background.GetID())
    composite.SetForegroundVolumeID(foreground.GetID() if foreground else None)
    composite.SetForegroundOpacity(opacity)
    composite.SetLabelVolumeID(label.GetID() if label else None)
    composite.SetLabelOpacity(0.45)
    slice_node = app.scene.GetNodeByID(f"vtkMRMLSliceNode{layout_name}")
    logic = slicer.vtkMRMLSliceLogic()
    logic.SetMRMLApplicationLogic(app.app_logic)
    logic.SetMRMLScene(app.scene)
    logic.SetSliceNode(slice_node)
    slice_node.SetDimensions(VIEW_PIXELS, VIEW_PIXELS, 1)
    slice_node.SetFieldOfView(FIELD_OF_VIEW_MM, FIELD_OF_VIEW_MM, 1.0)
    slice_node.JumpSliceByCentering(*DEMO_SEED_RAS)
    producer = logic.GetImageDataConnection().GetProducer()
    producer.Update()
    image = producer.GetOutputDataObject(0)
    rgba = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(VIEW_PIXELS, VIEW_PIXELS, 4)
    return rgba[::-1, :, :3]  # VTK's first row is the bottom one


def roi_outline_pixels(app, layout_name: str, roi) -> tuple[np.ndarray, np.ndarray]:
    """The ROI's box cut by the slice plane, as pixel corners (x, y) of the rendered view."""
    bounds = np.zeros(6)
    roi.GetRASBounds(bounds)
    slice_node = app.scene.GetNodeByID(f"vtkMRMLSliceNode{layout_name}")
    xy_to_ras = np.array([[slice_node.GetXYToRAS().GetElement(r, c) for c in range(4)] for r in range(4)])
    ras_to_xy = np.linalg.inv(xy_to_ras)
    corners = [(bounds[0], bounds[2]), (bounds[1], bounds[2]), (bounds[1], bounds[3]), (bounds[0], bounds[3])]
    if layout_name == "Green":  # coronal: R and S
        corners = [(bounds[0], bounds[4]), (bounds[1], bounds[4]), (bounds[1], bounds[5]), (bounds[0], bounds[5])]
    points = []
    for u, v in corners + corners[:1]:
        ras = [u, DEMO_SEED_RAS[1], v] if layout_name == "Green" else [u, v, DEMO_SEED_RAS[2]]
        x, y, _, _ = ras_to_xy @ np.array([*ras, 1.0])
        points.append((x, VIEW_PIXELS - 1 - y))
    return np.array(points).T


def main() -> None:
    app = create_headless_scene()
    case = default_brain_case(resolution_mm=1.0)
    nodes = case_to_volume_nodes(app.scene, case)
    roi = app.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "Lesion seed")
    roi.SetCenter(*DEMO_SEED_RAS)
    roi.SetRadiusXYZ(15.0, 15.0, 15.0)
    result = synthesize_in_scene(app.scene, nodes, roi, random_seed=0)
    label = sitk_to_volume_node(app.scene, result.label, "Lesion label", label_map=True)
    label.GetDisplayNode().SetAndObserveColorNodeID(pathology_color_table(app.scene).GetID())
    ensure_slice_views(app.scene)

    flair, synthetic = nodes["flair"], result.volume_nodes["flair"]
    panels = {
        "Original FLAIR + seed": dict(background=flair),
        "Synthetic FLAIR": dict(background=flair, foreground=synthetic),
        "Synthetic + lesion segments": dict(background=flair, foreground=synthetic, label=label),
    }
    figure, axes = plt.subplots(2, 3, figsize=(10.5, 7.2), facecolor="black")
    for row, view in enumerate(("Red", "Green")):
        for column, (title, layers) in enumerate(panels.items()):
            ax = axes[row, column]
            ax.imshow(render_view(app, view, **layers))
            if column == 0:
                ax.plot(*roi_outline_pixels(app, view, roi), color="#3dbbff", linewidth=1.2)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, color="white", fontsize=11)
    figure.tight_layout()
    out = ROOT / "docs" / "slicer_lesion.png"
    figure.savefig(out, dpi=90, facecolor="black")
    print(f"wrote {out}")

    icons = ROOT / "Resources" / "Icons"
    icons.mkdir(parents=True, exist_ok=True)
    lesion_view = render_view(app, "Red", background=flair, foreground=synthetic, label=label)
    plain_view = render_view(app, "Red", background=flair, foreground=synthetic)
    for name, image in (("SynthPathology", lesion_view), ("SynthPathologyTuringTest", plain_view)):
        crop = image[40:280, 40:280]
        plt.imsave(icons / f"{name}.png", crop[:: crop.shape[0] // 128, :: crop.shape[1] // 128][:128, :128])
        print(f"wrote {icons / name}.png")


if __name__ == "__main__":
    main()
