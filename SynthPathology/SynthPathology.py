"""SynthPathology: place and scale a lesion seed on a loaded brain, synthesize, overlay.

Slicer's scripted-module layout: Module (metadata, sample data), parameter node, Widget (loads
Resources/UI/SynthPathology.ui and only wires it to the Logic), Logic (calls SynthPathologyLib.mrml,
which holds all the work and runs headless too), Test (the whole workflow on the default brain).

Generate, Save and Remove run as SynthPathologyLib.mrml jobs: the heavy part in a worker thread; a
QTimer polls the job, which applies each result on the main thread; Cancel stops after the current step.
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
            "A library lesion (a real segmentation file) can be placed at the seed instead, and a mass "
            "effect can push the surrounding tissue away. Only voxels near the lesion (and within the mass "
            "effect's reach) change. The synthetic volumes are shown over the originals and can be saved "
            "as a BraTS case folder with the label and provenance. The default model is trained on "
            "simulated (phantom) data; see the project README for training on BraTS."
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
    irregularity: Annotated[float, WithinRange(0.0, 1.0)] = 0.7  # Composition.irregularity
    massEffectMm: Annotated[float, WithinRange(0.0, 10.0)] = 0.0
    # A segmentation file whose lesion is placed at the seed; empty (Path(), shown as ".") means the
    # parametric lesion. ctkPathLineEdit binds to Path parameters only, so no None here.
    libraryLesion: Path = Path()
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
        self._job = None  # the SceneJob running, if any

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(str(resource_path("UI/SynthPathology.ui")))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SynthPathologyLogic()
        self._jobTimer = qt.QTimer()
        self._jobTimer.setInterval(100)  # ms between polls: progress stays live, the GUI idle
        self._jobTimer.connect("timeout()", self._pollJob)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeAddedEvent, self.onNodeAdded)

        self.ui.generateButton.connect("clicked(bool)", self.onGenerate)
        self.ui.removeLesionButton.connect("clicked(bool)", self.onRemoveLesion)
        self.ui.saveCaseButton.connect("clicked(bool)", self.onSaveCase)
        self.ui.newSeedButton.connect("clicked(bool)", self.onNewSeed)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self._endJob()  # none yet: hides the progress widgets
        self.ui.diameterSlider.connect("valueChanged(double)", self.onDiameterChanged)
        self.ui.opacitySlider.connect("valueChanged(double)", self.logic.setOverlayOpacity)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self._endJob()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self._endJob()  # its results must not reach the next scene
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
        idle = self._job is None
        # Any subset may do (a v2+ model takes any; the model says which it needs when it runs).
        ready = bool(params and any(getattr(params, c) for c in CONTRASTS) and params.seed)
        self.ui.generateButton.enabled = ready and idle
        self.ui.generateButton.toolTip = ("Synthesize a lesion at the seed" if ready
                                          else "Select the contrasts the case has and place a seed")
        self.ui.removeLesionButton.enabled = bool(params and params.lesionSegmentation and params.t1) and idle
        self.ui.saveCaseButton.enabled = ready and idle
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
        self._startJob(self.logic.generate)

    def onRemoveLesion(self) -> None:
        self._startJob(self.logic.removeLesion)

    def onSaveCase(self) -> None:
        self._startJob(self.logic.saveVariants)

    def onCancel(self) -> None:
        self._job.cancel()
        self.ui.statusLabel.text = f"{self._job.title}: stopping after the current step…"

    def _startJob(self, makeJob) -> None:
        """Build the job here (it reads the nodes now), start its worker and poll it with the timer."""
        if self._job is not None or not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay("SynthPathology could not start.", waitCursor=True):
            self._job = makeJob(self._parameterNode)
            self._job.start()
            self.ui.progressBar.maximum = self._job.total if self._job.total > 1 else 0  # 0: busy indicator
            self.ui.progressBar.value = 0
            self.ui.cancelButton.visible = self._job.total > 1  # the step in flight cannot be interrupted
            self.ui.progressBar.visible = True
            self.ui.statusLabel.text = f"{self._job.title}…"
            self._jobTimer.start()
            self._updateButtons()

    def _pollJob(self) -> None:
        """Timer tick: the job applies a finished step to the scene here, on the main thread."""
        job = self._job
        job.poll()
        self.ui.progressBar.value = job.done
        if job.finished:
            self._endJob()
            self._showOutcome(job)

    def _showOutcome(self, job) -> None:
        """How the job ended; a new lesion becomes the one Remove lesion acts on."""
        if job.state.value == "failed":
            self.ui.statusLabel.text = job.error
            slicer.util.errorDisplay(job.error)
        elif job.results and isinstance(job.results[0], Path):
            stopped = " (cancelled)" if job.state.value == "cancelled" else ""
            self.ui.statusLabel.text = f"Saved {len(job.results)} case folder(s) in {self._parameterNode.outputDirectory}{stopped}"
        elif job.results:
            if job.results[0].spec is not None:  # a synthesis, not a removal
                self._parameterNode.lesionSegmentation = job.results[0].segmentation_node
            self.ui.statusLabel.text = _describe(job.results[0].provenance)

    def _endJob(self) -> None:
        """Stop polling the job (a running one is cancelled, its results dropped); hide the progress."""
        self._jobTimer.stop()
        if self._job is not None:
            self._job.cancel()
        self._job = None
        self.ui.progressBar.visible = False
        self.ui.cancelButton.visible = False
        self._updateButtons()


def _describe(provenance: dict) -> str:
    from SynthPathologyLib.pathologies import contrast_title

    done = "Lesion synthesized" if provenance["operation"] == "insert" else "Lesion replaced by pseudo-healthy tissue"
    used = ", ".join(contrast_title(c) for c in provenance["contrasts"])
    lesion = provenance.get("lesion")  # a dict for an insertion, a text for a removal
    library = lesion.get("library") if isinstance(lesion, dict) else None
    shape = f", library lesion {library['source']}" if library else ""
    pushed = f", mass effect {provenance['mass_effect']['displacement_mm']:g} mm" if "mass_effect" in provenance else ""
    return (f"{done} from {used} (random seed {provenance['random_seed']}{shape}{pushed}, "
            f"model {provenance['model_id']}, {provenance['device']}).")


class SynthPathologyLogic(ScriptedLoadableModuleLogic):
    """GUI-free: what the Widget, the self-test and Python scripts call. All MRML work is done by
    :mod:`SynthPathologyLib.mrml` on ``slicer.mrmlScene``; long work is returned as a SceneJob to
    start and poll (or ``wait()`` for)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._session = None

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

    def session(self):
        """The loaded model and the prepared case, kept between runs (made on first use: it needs torch)."""
        if self._session is None:
            from SynthPathologyLib.synthesis.session import SynthesisSession

            self._session = SynthesisSession()
        return self._session

    def _options(self, params) -> dict:
        """Settings shared by synthesis and removal."""
        return {"pathology": params.pathology, "model": params.modelPath or None, "device": params.device,
                "opacity": params.opacity, "session": self.session()}

    def _lesionOptions(self, params) -> dict:
        """:meth:`_options`, the lesion's composition (or library file) and its mass effect."""
        from SynthPathologyLib.lesions.spec import Composition

        composition = Composition(
            edema_extent_mm=params.edemaExtentMm,
            necrosis_fraction=params.necrosisFraction,
            rim_thickness_mm=params.rimThicknessMm,
            irregularity=params.irregularity,
        )
        library = None if params.libraryLesion == Path() else params.libraryLesion
        return {**self._options(params), "composition": composition, "mass_effect_mm": params.massEffectMm,
                "library_lesion": library}

    def generate(self, params):
        """A job (not started) that synthesizes at the seed with the parameter node's settings; its
        result is the SceneResult."""
        from SynthPathologyLib.mrml import SceneJob, synthesis_steps

        steps = synthesis_steps(slicer.mrmlScene, self.volumeNodes(params), params.seed,
                                random_seeds=[params.randomSeed], **self._lesionOptions(params))
        return SceneJob("Synthesizing the lesion", steps)

    def removeLesion(self, params):
        """A job (not started) that repaints the lesion segmentation's voxels; its result is the SceneResult."""
        from SynthPathologyLib.mrml import SceneJob, removal_step

        step = removal_step(slicer.mrmlScene, self.volumeNodes(params), params.lesionSegmentation,
                            random_seed=params.randomSeed, **self._options(params))
        return SceneJob("Removing the lesion", [step])

    def saveVariants(self, params):
        """A job (not started) that saves ``params.variants`` variants; its results: the case folders."""
        from SynthPathologyLib.mrml import SceneJob, variant_steps

        steps = variant_steps(slicer.mrmlScene, self.volumeNodes(params), params.seed, params.outputDirectory,
                              variants=params.variants, first_seed=params.randomSeed, **self._lesionOptions(params))
        return SceneJob(f"Saving {params.variants} variant(s)", steps)

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
    """The whole workflow on the default brain: load, seed, generate, rerun with mass effect, save, remove."""

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
        (result,) = self._finish(logic.generate(params))
        self.assertEqual(result.volume_nodes["flair"].GetName(), "DefaultBrain FLAIR (synthetic)")
        self.assertGreater(slicer.util.arrayFromSegmentBinaryLabelmap(result.segmentation_node, "ET", nodes["t1"]).sum(), 0)
        count = slicer.mrmlScene.GetNumberOfNodes()
        params.randomSeed = 1
        params.massEffectMm = 3.0
        (pushed,) = self._finish(logic.generate(params))
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), count)
        self.assertEqual(pushed.provenance["mass_effect"]["displacement_mm"], 3.0)
        params.massEffectMm = 0.0

        params.outputDirectory = Path(tempfile.mkdtemp(prefix="SynthPathologyTest-"))
        params.variants = 2
        folders = self._finish(logic.saveVariants(params))
        self.assertEqual([f.name for f in folders], ["synthetic-v1", "synthetic-v2"])
        self.assertTrue(all((f / "provenance.json").is_file() for f in folders))

        params.lesionSegmentation = result.segmentation_node
        (removed,) = self._finish(logic.removeLesion(params))
        self.assertEqual(removed.provenance["operation"], "remove")
        logging.info("SynthPathology self-test passed; outputs in %s", params.outputDirectory)
        self.delayDisplay("Test passed")

    def _finish(self, job) -> list:
        """Run ``job`` (worker thread, results applied here) to its end; its results."""
        self.assertEqual(job.wait().value, "done", job.error)
        return job.results
