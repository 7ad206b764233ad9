"""SynthPathology: choose a pathology, place lesion seeds on a loaded brain, synthesize, overlay.

Slicer's scripted-module layout: Module (metadata, sample data), parameter node, Widget (loads
Resources/UI/SynthPathology.ui and only wires it to the Logic), Logic (calls SynthPathologyLib.mrml,
which holds all the work and runs headless too), Test (the whole workflow on the default brain).

Generate, Save and Remove run as SynthPathologyLib.mrml jobs: the heavy part in a worker thread; a
QTimer polls the job (SynthPathologyLib.mrml.job_progress), which applies each result on the main
thread; Cancel stops after the current step.
"""

from __future__ import annotations

import functools
import logging
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Union

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsROINode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
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
from SynthPathologyLib.pathologies import get_pathology, pathology_names  # noqa: E402  (pure data)

CONTRASTS = ("t1", "t1c", "t2", "flair")
# Parameter -> the Composition field it sets (SynthPathologyLib.lesions.spec).
COMPOSITION = {"edemaExtentMm": "edema_extent_mm", "necrosisFraction": "necrosis_fraction",
               "rimThicknessMm": "rim_thickness_mm", "irregularity": "irregularity", "enhancing": "enhancing"}
DEFAULT_BRAIN_SAMPLE = "SynthPathologyDefaultBrain"


class SynthPathology(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SynthPathology"
        self.parent.categories = ["SynthPathology"]
        self.parent.dependencies = []
        self.parent.contributors = ["SynthPathology developers"]
        self.parent.helpText = (
            "Choose a pathology (glioma, brain metastasis, multiple sclerosis...) and place a lesion seed (a Markups "
            "ROI, or a point list: one lesion per point) on a loaded brain; a 3D Pix2Pix generator trained for that "
            "pathology paints the lesions (e.g. a glioma's necrotic core, enhancing rim and edema) into T1, T1c, T2 "
            "and FLAIR. A library lesion (a real segmentation file) can be placed at the seed instead, and a mass "
            "effect can push the surrounding tissue away. Only voxels near the lesions (and within the mass effect's "
            "reach) change. The synthetic volumes are shown over the originals and can be saved as a BraTS case "
            "folder with the label and provenance."
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

    pathology: Annotated[str, Choice(pathology_names())] = "glioma"  # the registry's; shown by display name
    t1: vtkMRMLScalarVolumeNode
    t1c: vtkMRMLScalarVolumeNode
    t2: vtkMRMLScalarVolumeNode
    flair: vtkMRMLScalarVolumeNode
    # An ROI is one lesion; a point list is one lesion per point, each of diameterMm.
    seed: Union[vtkMRMLMarkupsROINode, vtkMRMLMarkupsFiducialNode]
    diameterMm: Annotated[float, WithinRange(3.0, 80.0)] = 30.0
    # Composition (glioma's defaults, Composition's); choosing a pathology sets its own.
    edemaExtentMm: Annotated[float, WithinRange(0.0, 30.0)] = 8.0
    necrosisFraction: Annotated[float, WithinRange(0.0, 0.9)] = 0.3
    rimThicknessMm: Annotated[float, WithinRange(1.0, 10.0)] = 3.0
    irregularity: Annotated[float, WithinRange(0.0, 1.0)] = 0.7
    enhancing: bool = True
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
        self._shownPathology = None  # the pathology the labels and composition rows show
        self._jobs = None  # the JobProgress that runs and shows Generate, Save and Remove

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(str(resource_path("UI/SynthPathology.ui")))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SynthPathologyLogic()
        from SynthPathologyLib.mrml.job_progress import JobProgress

        self._jobs = JobProgress(qt.QTimer(), self.ui.progressBar, self.ui.statusLabel, self.ui.cancelButton,
                                 on_finished=self._showOutcome, on_change=self._updateButtons)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeAddedEvent, self.onNodeAdded)

        self.ui.generateButton.connect("clicked(bool)", lambda: self._startJob(self.logic.generate))
        self.ui.removeLesionButton.connect("clicked(bool)", lambda: self._startJob(self.logic.removeLesion))
        self.ui.saveCaseButton.connect("clicked(bool)", lambda: self._startJob(self.logic.saveVariants))
        self.ui.newSeedButton.connect("clicked(bool)", lambda: self.onNewSeed(points=False))
        self.ui.newSeedPointsButton.connect("clicked(bool)", lambda: self.onNewSeed(points=True))
        self.ui.diameterSlider.connect("valueChanged(double)", self.onDiameterChanged)
        self.ui.opacitySlider.connect("valueChanged(double)", self.logic.setOverlayOpacity)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self._jobs.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self._jobs.stop()  # its results must not reach the next scene
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
        self._shownPathology = None  # a loaded scene keeps its composition: no defaults applied
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            for index, name in enumerate(pathology_names()):  # connectGui filled the names (the values)
                self.ui.pathologyComboBox.setItemText(index, get_pathology(name).display_name)
                self.ui.pathologyComboBox.setItemData(index, get_pathology(name).description, qt.Qt.ToolTipRole)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
            self._updateButtons()

    def _updateButtons(self, caller=None, event=None) -> None:
        params = self._parameterNode
        idle = self._jobs is not None and self._jobs.idle
        # Any subset may do (a v2+ model takes any; the model says which it needs when it runs).
        ready = bool(params and any(getattr(params, c) for c in CONTRASTS) and params.seed)
        self.ui.generateButton.enabled = ready and idle
        self.ui.generateButton.toolTip = ("Synthesize a lesion at the seed" if ready
                                          else "Select the contrasts the case has and place a seed")
        self.ui.removeLesionButton.enabled = bool(params and params.lesionSegmentation and params.t1) and idle
        self.ui.saveCaseButton.enabled = ready and idle
        self._observeSeed(params.seed if params else None)
        if params and params.pathology != self._shownPathology:
            self._showPathology(params)

    def _showPathology(self, params) -> None:
        """The chosen pathology's labels (names and segment colours) and composition rows; a
        pathology the user just chose also sets its composition defaults."""
        chosen = self._shownPathology is not None
        self._shownPathology = params.pathology
        if chosen:
            self.logic.setPathologyDefaults(params)
        pathology = get_pathology(params.pathology)
        self.ui.labelsLegendLabel.text = "  ".join(
            f"<span style='color:rgb({','.join(str(round(255 * c)) for c in label.color)})'>&#9632;</span> "
            f"{label.value} {label.name}" for label in pathology.labels)
        regions = {label.region for label in pathology.labels}
        for widgets, region in (((self.ui.edemaLabel, self.ui.edemaSlider), "edema"),
                                ((self.ui.necrosisLabel, self.ui.necrosisSlider, self.ui.rimLabel, self.ui.rimSlider),
                                 "necrosis")):
            for widget in widgets:
                widget.visible = region in regions  # e.g. no edema or necrosis in multiple sclerosis

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
            self._startJob(self.logic.generate)

    def onNewSeed(self, points: bool) -> None:
        """A new ROI seed, or a point list that each click adds a lesion to, placed in the views."""
        seed = self.logic.newSeed(self._parameterNode, points)
        self.ui.seedPlaceWidget.setCurrentNode(seed)
        if points:
            self.ui.seedPlaceWidget.placeMultipleMarkups = slicer.qSlicerMarkupsPlaceWidget.ForcePlaceMultipleMarkups
        self.ui.seedPlaceWidget.setPlaceModeEnabled(True)

    def onDiameterChanged(self, diameter: float) -> None:
        seed = self._parameterNode.seed if self._parameterNode else None
        if seed and seed.IsA("vtkMRMLMarkupsROINode"):  # a point list's points take the diameter as they are
            seed.SetRadiusXYZ(*(diameter / 2,) * 3)

    def _startJob(self, makeJob) -> None:
        """Build the job here (it reads the nodes now) and run it in the panel."""
        if not self._jobs.idle or not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay("SynthPathology could not start.", waitCursor=True):
            self._jobs.start(makeJob(self._parameterNode))

    def _showOutcome(self, job) -> None:
        """A failure's error box or what the job made; a new lesion becomes the one Remove acts on."""
        from SynthPathologyLib.mrml import describe_provenance

        if job.error:
            slicer.util.errorDisplay(job.error)
        elif job.results and isinstance(job.results[0], Path):
            stopped = " (cancelled)" if job.state.value == "cancelled" else ""
            self.ui.statusLabel.text = f"Saved {len(job.results)} case folder(s) in {self._parameterNode.outputDirectory}{stopped}"
        elif job.results:
            if job.results[0].spec is not None:  # a synthesis, not a removal
                self._parameterNode.lesionSegmentation = job.results[0].segmentation_node
            self.ui.statusLabel.text = describe_provenance(job.results[0].provenance)


class SynthPathologyLogic(ScriptedLoadableModuleLogic):
    """GUI-free: what the Widget, the self-test and Python scripts call. All MRML work is done by
    :mod:`SynthPathologyLib.mrml` on ``slicer.mrmlScene``; long work is returned as a SceneJob to
    start and poll (or ``wait()`` for)."""

    def getParameterNode(self):
        return SynthPathologyParameterNode(super().getParameterNode())

    def ensureDependencies(self, ask: bool = True) -> bool:
        return dependencies.install_in_slicer(ask)  # offers to install what is missing

    def assignInputs(self, params) -> None:
        """Fill empty contrast selectors from volume names such as "..._t1ce", "FLAIR", "t2w"."""
        from SynthPathologyLib.mrml import contrast_volume_nodes

        for contrast, node in contrast_volume_nodes(slicer.mrmlScene).items():
            if getattr(params, contrast) is None:
                setattr(params, contrast, node)

    def volumeNodes(self, params) -> dict:
        return {c: getattr(params, c) for c in CONTRASTS if getattr(params, c) is not None}

    def newSeed(self, params, points: bool = False):
        """A new seed, to be placed by clicks in a view: an ROI of the chosen diameter, or (``points``)
        a point list: one lesion of the chosen diameter per point."""
        if points:
            seed = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Lesion seeds")
        else:
            seed = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "Lesion seed")
            seed.SetRadiusXYZ(*(params.diameterMm / 2,) * 3)
        params.seed = seed
        return seed

    def setPathologyDefaults(self, params) -> None:
        """The chosen pathology's composition defaults (e.g. no edema in multiple sclerosis) and a
        seed diameter inside its range."""
        from SynthPathologyLib.lesions.spec import Composition

        defaults = Composition.for_pathology(params.pathology)
        for name, field in COMPOSITION.items():
            setattr(params, name, getattr(defaults, field))
        params.diameterMm = max(get_pathology(params.pathology).fit_diameter_mm(params.diameterMm), 3.0)  # slider floor

    @functools.cached_property
    def session(self):
        """The loaded model and the prepared case, kept between runs (made on first use: it needs torch)."""
        from SynthPathologyLib.synthesis.session import SynthesisSession

        return SynthesisSession()

    def _options(self, params) -> dict:
        """Settings shared by synthesis and removal."""
        return {"pathology": params.pathology, "model": params.modelPath or None, "device": params.device,
                "opacity": params.opacity, "session": self.session}

    def _lesionOptions(self, params) -> dict:
        """:meth:`_options`, the lesion's composition (or library file) and its mass effect."""
        from SynthPathologyLib.lesions.spec import Composition

        composition = Composition(**{field: getattr(params, name) for name, field in COMPOSITION.items()})
        library = None if params.libraryLesion == Path() else params.libraryLesion
        points = params.seed is not None and params.seed.IsA("vtkMRMLMarkupsFiducialNode")
        return {**self._options(params), "composition": composition, "mass_effect_mm": params.massEffectMm,
                "library_lesion": library, "diameter_mm": params.diameterMm if points else None}

    def generate(self, params):
        """A job (not started) that synthesizes one lesion per seed with the parameter node's
        settings; its result is the SceneResult."""
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
    """The whole workflow on the default brain: load, seed, generate, rerun with mass effect, save,
    pathology defaults, one lesion per point of a point list, remove."""

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
        params.randomSeed, params.massEffectMm = 1, 3.0
        (pushed,) = self._finish(logic.generate(params))
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), count)
        self.assertEqual(pushed.provenance["mass_effect"]["displacement_mm"], 3.0)
        params.massEffectMm = 0.0

        params.outputDirectory = Path(tempfile.mkdtemp(prefix="SynthPathologyTest-"))
        params.variants = 2
        folders = self._finish(logic.saveVariants(params))
        self.assertEqual([f.name for f in folders], ["synthetic-v1", "synthetic-v2"])
        self.assertTrue(all((f / "provenance.json").is_file() for f in folders))

        params.pathology = "ms"
        logic.setPathologyDefaults(params)
        self.assertEqual((params.edemaExtentMm, params.enhancing, params.diameterMm), (0.0, False, 15.0))
        params.pathology = "glioma"
        logic.setPathologyDefaults(params)
        points = logic.newSeed(params, points=True)
        for center in ((-26.0, -12.0, 28.0), (26.0, -12.0, 28.0)):  # RAS mm: both frontal lobes
            points.AddControlPoint(*center)
        (several,) = self._finish(logic.generate(params))  # one 15 mm glioma per point
        self.assertEqual([r["lesion"]["center_lps"][0] for r in several.provenance["lesions"]], [26.0, -26.0])

        params.lesionSegmentation = result.segmentation_node
        (removed,) = self._finish(logic.removeLesion(params))
        self.assertEqual(removed.provenance["operation"], "remove")
        logging.info("SynthPathology self-test passed; outputs in %s", params.outputDirectory)
        self.delayDisplay("Test passed")

    def _finish(self, job) -> list:
        """Run ``job`` (worker thread, results applied here) to its end; its results."""
        self.assertEqual(job.wait().value, "done", job.error)
        return job.results
