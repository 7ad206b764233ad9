"""SynthPathology: place and scale a lesion seed on a loaded brain, synthesize, overlay.

Slicer's scripted-module layout: Module (metadata, sample data), parameter node, Widget (loads
Resources/UI/SynthPathology.ui and only wires it to the Logic), Logic (calls SynthPathologyLib.mrml,
which holds all the work and runs headless too), Test (the whole workflow on the default brain).
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsROINode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

# In a source checkout ("Developer Tools > add module path"), the library sits beside this folder;
# in a built extension it is installed next to the module.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "SynthPathologyLib").is_dir() and str(_CHECKOUT) not in sys.path:
    sys.path.insert(0, str(_CHECKOUT))

from SynthPathologyLib.core import dependencies  # noqa: E402  (needs the path above; imports nothing heavy)
from SynthPathologyLib.core.resources import resource_path  # noqa: E402

CONTRASTS = ("t1", "t1c", "t2", "flair")
DEFAULT_BRAIN_SAMPLE = "SynthPathologyDefaultBrain"


class SynthPathology(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SynthPathology"
        self.parent.categories = ["SynthPathology"]
        self.parent.dependencies = []
        self.parent.contributors = ["SynthPathology developers"]
        self.parent.helpText = (
            "Place and scale a lesion seed (a Markups ROI) on a loaded brain; a 3D Pix2Pix generator "
            "paints a glioma (necrotic core, enhancing rim, edema) into T1, T1c, T2 and FLAIR around it. "
            "Only voxels near the lesion change. The synthetic volumes are shown over the originals and "
            "can be saved as a BraTS case folder with the label and provenance. The default model is "
            "trained on simulated (phantom) data; see the project README for training on BraTS."
        )
        self.parent.acknowledgementText = "Built on 3D Slicer, MONAI, SimpleITK and the MNI152 template (via nilearn)."
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """The default brain (healthy MNI152-based phantom, four contrasts) as Slicer sample data. It is
    built locally from files nilearn ships, so nothing is downloaded."""
    import SampleData

    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="SynthPathology",
        sampleName=DEFAULT_BRAIN_SAMPLE,
        uris=[],
        fileNames=[],
        nodeNames=[],
        thumbnailFileName=str(resource_path("Icons/SynthPathology.png")),
        customDownloader=lambda source: list(SynthPathologyLogic().loadDefaultBrain().values()),
    )


@parameterNodeWrapper
class SynthPathologyParameterNode:
    """Everything the module's widgets show; saved with the scene."""

    pathology: Annotated[str, Choice(["glioma"])] = "glioma"
    t1: vtkMRMLScalarVolumeNode
    t1c: vtkMRMLScalarVolumeNode
    t2: vtkMRMLScalarVolumeNode
    flair: vtkMRMLScalarVolumeNode
    seed: vtkMRMLMarkupsROINode
    diameterMm: Annotated[float, WithinRange(4.0, 80.0)] = 30.0
    edemaExtentMm: Annotated[float, WithinRange(0.0, 30.0)] = 8.0
    necrosisFraction: Annotated[float, WithinRange(0.0, 0.9)] = 0.3
    rimThicknessMm: Annotated[float, WithinRange(1.0, 10.0)] = 3.0
    irregularity: Annotated[float, WithinRange(0.0, 1.0)] = 0.35
    randomSeed: Annotated[int, WithinRange(0, 1_000_000)] = 0
    variants: Annotated[int, WithinRange(1, 50)] = 1
    modelPath: str = ""
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    liveUpdate: bool = False
    opacity: Annotated[float, WithinRange(0.0, 1.0)] = 1.0
    lesionSegmentation: vtkMRMLSegmentationNode
    outputDirectory: Path = Path.home() / "SynthPathology"


class SynthPathologyWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Wires SynthPathology.ui to the Logic; widgets bind to the parameter node by their
    SlicerParameterName properties."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedSeed = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(str(resource_path("UI/SynthPathology.ui")))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SynthPathologyLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeAddedEvent, self.onNodeAdded)

        self.ui.generateButton.connect("clicked(bool)", self.onGenerate)
        self.ui.removeLesionButton.connect("clicked(bool)", self.onRemoveLesion)
        self.ui.saveCaseButton.connect("clicked(bool)", self.onSaveCase)
        self.ui.newSeedButton.connect("clicked(bool)", self.onNewSeed)
        self.ui.diameterSlider.connect("valueChanged(double)", self.onDiameterChanged)
        self.ui.opacitySlider.connect("valueChanged(double)", self.logic.setOverlayOpacity)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    @vtk.calldata_type(vtk.VTK_OBJECT)
    def onNodeAdded(self, caller, event, node) -> None:
        if self._parameterNode and node.IsA("vtkMRMLScalarVolumeNode"):
            qt.QTimer.singleShot(0, lambda: self.logic.assignInputs(self._parameterNode))  # once the node is named

    def initializeParameterNode(self) -> None:
        parameterNode = self.logic.getParameterNode()
        self.logic.assignInputs(parameterNode)
        self.setParameterNode(parameterNode)

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
            self._updateButtons()

    def _updateButtons(self, caller=None, event=None) -> None:
        params = self._parameterNode
        ready = bool(params and all(getattr(params, c) for c in CONTRASTS) and params.seed)
        self.ui.generateButton.enabled = ready
        self.ui.generateButton.toolTip = "Synthesize a lesion at the seed" if ready else "Select the four contrasts and place a seed"
        self.ui.removeLesionButton.enabled = bool(params and params.lesionSegmentation and params.t1)
        self.ui.saveCaseButton.enabled = ready
        self._observeSeed(params.seed if params else None)

    def _observeSeed(self, seed) -> None:
        """Live update: regenerate when the user releases the ROI after moving or resizing it."""
        if seed is self._observedSeed:
            return
        if self._observedSeed is not None:
            self.removeObserver(self._observedSeed, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent, self.onSeedReleased)
        self._observedSeed = seed
        if seed is not None:
            self.addObserver(seed, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent, self.onSeedReleased)

    def onSeedReleased(self, caller, event) -> None:
        if self._parameterNode.liveUpdate and self.ui.generateButton.enabled:
            self.onGenerate()

    def onNewSeed(self) -> None:
        seed = self.logic.newSeed(self._parameterNode)
        self.ui.seedPlaceWidget.setCurrentNode(seed)
        self.ui.seedPlaceWidget.setPlaceModeEnabled(True)

    def onDiameterChanged(self, diameter: float) -> None:
        if self._parameterNode and self._parameterNode.seed:
            self._parameterNode.seed.SetRadiusXYZ(*(diameter / 2,) * 3)

    def onGenerate(self) -> None:
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay("Lesion synthesis failed.", waitCursor=True):
            result = self.logic.generate(self._parameterNode)
            self._parameterNode.lesionSegmentation = result.segmentation_node
            self.ui.statusLabel.text = _describe(result.provenance)

    def onRemoveLesion(self) -> None:
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay("Lesion removal failed.", waitCursor=True):
            result = self.logic.removeLesion(self._parameterNode)
            self.ui.statusLabel.text = _describe(result.provenance)

    def onSaveCase(self) -> None:
        if not self.logic.ensureDependencies():
            return
        params = self._parameterNode
        dialog = slicer.util.createProgressDialog(
            labelText="Synthesizing and saving variants...", maximum=params.variants, windowTitle="SynthPathology"
        )

        def progress(done: int, total: int) -> bool:
            dialog.setValue(done)
            slicer.app.processEvents()
            return not dialog.wasCanceled

        with slicer.util.tryWithErrorDisplay("Saving the case failed.", waitCursor=True):
            try:
                folders = self.logic.saveVariants(params, progress)
            finally:
                dialog.close()
            self.ui.statusLabel.text = f"Saved {len(folders)} case folder(s) in {params.outputDirectory}"


def _describe(provenance: dict) -> str:
    done = "Lesion synthesized" if provenance["operation"] == "insert" else "Lesion replaced by pseudo-healthy tissue"
    return f"{done} (random seed {provenance['random_seed']}, model {provenance['model_id']}, {provenance['device']})."


class SynthPathologyLogic(ScriptedLoadableModuleLogic):
    """GUI-free: what the Widget, the self-test and Python scripts call. All MRML work is done by
    :mod:`SynthPathologyLib.mrml` on ``slicer.mrmlScene``."""

    def getParameterNode(self):
        return SynthPathologyParameterNode(super().getParameterNode())

    def ensureDependencies(self, ask: bool = True) -> bool:
        """Check that torch and the Python packages import; offer to install the missing ones
        (torch through the PyTorch extension, which picks the build for the GPU). Returns whether
        everything is there afterwards."""
        missing = dependencies.missing_requirements()
        torchMissing = dependencies.torch_missing()
        if not missing and not torchMissing:
            return True
        needed = (["torch (PyTorch extension)"] if torchMissing else []) + missing
        if ask and not slicer.util.confirmOkCancelDisplay(
            "SynthPathology needs these Python packages, which are not installed yet:\n\n"
            + "\n".join(needed) + "\n\nInstall them now? (This can take several minutes.)",
            windowTitle="SynthPathology: install dependencies",
        ):
            return False
        with slicer.util.tryWithErrorDisplay("Installing the dependencies failed.", waitCursor=True):
            if torchMissing:
                try:
                    import PyTorchUtils
                except ImportError:
                    slicer.util.errorDisplay("Install the PyTorch extension from the Extensions Manager, restart, and try again.")
                    return False
                if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False) is None:
                    return False
            if missing:
                slicer.util.pip_install(missing)
        return not dependencies.missing_requirements() and not dependencies.torch_missing()

    def assignInputs(self, params) -> None:
        """Fill empty contrast selectors from volume names such as "..._t1ce", "FLAIR", "t2w"."""
        from SynthPathologyLib.io.brats import contrast_from_name

        nodes = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
        for node in nodes:
            contrast = contrast_from_name(node.GetName())
            if contrast and getattr(params, contrast) is None and " (synthetic)" not in node.GetName():
                setattr(params, contrast, node)

    def volumeNodes(self, params) -> dict:
        return {c: getattr(params, c) for c in CONTRASTS if getattr(params, c) is not None}

    def newSeed(self, params):
        """A new ROI seed of the chosen diameter, to be placed by a click in a view."""
        seed = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "Lesion seed")
        seed.SetRadiusXYZ(*(params.diameterMm / 2,) * 3)
        params.seed = seed
        return seed

    def _options(self, params) -> dict:
        """Settings shared by synthesis and removal."""
        from SynthPathologyLib.mrml import load_synthesizer

        model = load_synthesizer(params.modelPath or None, params.pathology, params.device)
        return {"pathology": params.pathology, "model": model, "opacity": params.opacity}

    def _lesionOptions(self, params) -> dict:
        """:meth:`_options` and the lesion's composition."""
        from SynthPathologyLib.lesions.spec import Composition

        composition = Composition(
            edema_extent_mm=params.edemaExtentMm,
            necrosis_fraction=params.necrosisFraction,
            rim_thickness_mm=params.rimThicknessMm,
            irregularity=params.irregularity,
        )
        return {**self._options(params), "composition": composition}

    def generate(self, params):
        """Synthesize at the seed with the parameter node's settings; returns the SceneResult."""
        from SynthPathologyLib.mrml import synthesize_in_scene

        return synthesize_in_scene(
            slicer.mrmlScene, self.volumeNodes(params), params.seed, random_seed=params.randomSeed,
            **self._lesionOptions(params),
        )

    def removeLesion(self, params):
        from SynthPathologyLib.mrml import remove_lesion_in_scene

        return remove_lesion_in_scene(
            slicer.mrmlScene, self.volumeNodes(params), params.lesionSegmentation, random_seed=params.randomSeed,
            **self._options(params),
        )

    def saveVariants(self, params, progress=None) -> list[Path]:
        from SynthPathologyLib.mrml import save_variants_from_scene

        return save_variants_from_scene(
            slicer.mrmlScene, self.volumeNodes(params), params.seed, params.outputDirectory,
            variants=params.variants, first_seed=params.randomSeed, progress=progress, **self._lesionOptions(params),
        )

    def setOverlayOpacity(self, opacity: float) -> None:
        for composite in slicer.util.getNodesByClass("vtkMRMLSliceCompositeNode"):
            composite.SetForegroundOpacity(opacity)

    def loadDefaultBrain(self, resolution_mm: float = 1.0) -> dict:
        """Build the default brain and load its four contrasts; returns contrast -> volume node."""
        from SynthPathologyLib.mrml import case_to_volume_nodes
        from SynthPathologyLib.phantom.generator import default_brain_case

        nodes = case_to_volume_nodes(slicer.mrmlScene, default_brain_case(resolution_mm))
        slicer.util.setSliceViewerLayers(background=nodes["flair"], fit=True)
        return nodes


class SynthPathologyTest(ScriptedLoadableModuleTest):
    """The whole workflow on the default brain: load, seed, generate, rerun, save, remove."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_workflow_on_the_default_brain()

    def test_workflow_on_the_default_brain(self):
        self.delayDisplay("Building the default brain (2 mm)")
        logic = SynthPathologyLogic()
        self.assertTrue(logic.ensureDependencies(ask=False))
        nodes = logic.loadDefaultBrain(resolution_mm=2.0)
        params = logic.getParameterNode()
        logic.assignInputs(params)
        self.assertEqual({c: getattr(params, c) for c in CONTRASTS}, nodes)

        seed = logic.newSeed(params)
        seed.SetCenter(-26.0, -12.0, 28.0)  # RAS mm: left frontal white matter
        result = logic.generate(params)
        self.assertEqual(result.volume_nodes["flair"].GetName(), "DefaultBrain FLAIR (synthetic)")
        self.assertGreater(slicer.util.arrayFromSegmentBinaryLabelmap(result.segmentation_node, "ET", nodes["t1"]).sum(), 0)
        count = slicer.mrmlScene.GetNumberOfNodes()
        params.randomSeed = 1
        logic.generate(params)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), count)

        params.outputDirectory = Path(tempfile.mkdtemp(prefix="SynthPathologyTest-"))
        params.variants = 2
        folders = logic.saveVariants(params)
        self.assertEqual([f.name for f in folders], ["synthetic-v1", "synthetic-v2"])
        self.assertTrue(all((f / "provenance.json").is_file() for f in folders))

        params.lesionSegmentation = result.segmentation_node
        removed = logic.removeLesion(params)
        self.assertEqual(removed.provenance["operation"], "remove")
        logging.info("SynthPathology self-test passed; outputs in %s", params.outputDirectory)
        self.delayDisplay("Test passed")
