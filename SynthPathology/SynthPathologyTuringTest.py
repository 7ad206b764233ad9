"""SynthPathology Turing Test: blinded real-vs-synthetic reading studies in 3D Slicer.

Three tabs: Organizer (create a study package, audit it for leaks), Reader (read a package case by
case; every answer is committed to the reader's crash-safe journal before the next case shows) and
Results (statistics and the HTML report). All the work is in SynthPathologyLib.turing and
SynthPathologyLib.mrml.reading; this file only wires the widgets.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import qt
import slicer
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

_CHECKOUT = Path(__file__).resolve().parent.parent  # a source checkout: the library is beside us
if (_CHECKOUT / "SynthPathologyLib").is_dir() and str(_CHECKOUT) not in sys.path:
    sys.path.insert(0, str(_CHECKOUT))

from SynthPathologyLib.core.resources import resource_path  # noqa: E402

SHORTCUTS = {"R": "real", "S": "synthetic"}
"""Keys that set the label; 1-5 set the confidence, Shift+1-5 the realism, Ctrl+Return commits."""


class SynthPathologyTuringTest(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SynthPathology Turing Test"
        self.parent.categories = ["SynthPathology"]
        self.parent.dependencies = []
        self.parent.contributors = ["SynthPathology developers"]
        self.parent.helpText = (
            "Blinded reading studies: can radiologists tell synthetic cases from real ones? Organizers "
            "build an anonymized study package and audit it; readers label each case real or synthetic "
            "with their confidence and how realistic the pathology looks; every answer is saved at once "
            "and a session resumes where it stopped. Results gives accuracy with confidence intervals, "
            "binomial tests, ROC AUC, kappa agreement and an HTML report."
        )
        self.parent.acknowledgementText = "Statistics from SciPy, statsmodels and scikit-learn."


@parameterNodeWrapper
class SynthPathologyTuringTestParameterNode:
    realDirectory: Path
    syntheticDirectory: Path
    packageDirectory: Path
    keyFile: Path
    cases: Annotated[int, WithinRange(0, 10000)] = 0
    fractionSynthetic: Annotated[float, WithinRange(0.05, 0.95)] = 0.5
    readers: str = ""
    studySeed: Annotated[int, WithinRange(0, 1_000_000)] = 0
    allowBack: bool = False
    readingPackage: Path
    readerId: str = ""
    resultsDirectory: Path


class SynthPathologyTuringTestWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._shortcuts = []

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(str(resource_path("UI/SynthPathologyTuringTest.ui")))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SynthPathologyTuringTestLogic()

        self.ui.createButton.connect("clicked(bool)", self.onCreate)
        self.ui.auditButton.connect("clicked(bool)", self.onAudit)
        self.ui.startReadingButton.connect("clicked(bool)", self.onStartReading)
        self.ui.contrastComboBox.connect("currentTextChanged(QString)", self.onContrastChanged)
        self.ui.nextButton.connect("clicked(bool)", self.onNext)
        self.ui.backButton.connect("clicked(bool)", self.onBack)
        self.ui.analyzeButton.connect("clicked(bool)", self.onAnalyze)
        self.ui.openReportButton.connect("clicked(bool)", self.onOpenReport)
        self._addShortcuts()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.setParameterNode(self.logic.getParameterNode())
        self._showReaderState()

    def cleanup(self) -> None:
        self.removeObservers()
        self.logic.closeSession()

    def onSceneStartClose(self, caller, event) -> None:
        self.logic.closeSession()
        self._showReaderState()

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = parameterNode
        if parameterNode:
            self._parameterNodeGuiTag = parameterNode.connectGui(self.ui)

    def _addShortcuts(self) -> None:
        reader = self.ui.readerTab

        def add(key: str, callback) -> None:
            shortcut = qt.QShortcut(qt.QKeySequence(key), reader)
            shortcut.setContext(qt.Qt.WidgetWithChildrenShortcut)
            shortcut.connect("activated()", callback)
            self._shortcuts.append(shortcut)

        add("R", lambda: self.ui.realRadioButton.setChecked(True))
        add("S", lambda: self.ui.syntheticRadioButton.setChecked(True))
        for value in range(1, 6):
            add(str(value), lambda v=value: self.ui.confidenceSpinBox.setValue(v))
            add(f"Shift+{value}", lambda v=value: self.ui.realismSpinBox.setValue(v))
        add("Ctrl+Return", self.onNext)

    # --- organizer -------------------------------------------------------------------------------

    def onCreate(self) -> None:
        with slicer.util.tryWithErrorDisplay("Creating the study package failed.", waitCursor=True):
            result = self.logic.createPackage(self._parameterNode)
            self.ui.organizerLog.appendPlainText(
                f"Wrote {result.package}: {result.n_real} real + {result.n_synthetic} synthetic cases.\n"
                f"Answer key: {result.key} (keep it away from the readers)."
            )

    def onAudit(self) -> None:
        with slicer.util.tryWithErrorDisplay("Auditing the package failed.", waitCursor=True):
            report = self.logic.auditPackage(self._parameterNode)
            if report.ok:
                self.ui.organizerLog.appendPlainText(f"Audit: blind ({report.n_properties} visible properties checked).")
            else:
                self.ui.organizerLog.appendPlainText("Audit found leaks:\n" + "\n".join(f"  {leak}" for leak in report.leaks))

    # --- reader ------------------------------------------------------------------------------------

    def onStartReading(self) -> None:
        with slicer.util.tryWithErrorDisplay("Cannot open the reading session.", waitCursor=True):
            self.logic.openSession(self._parameterNode.readingPackage, self._parameterNode.readerId)
            self._showReaderState()

    def onContrastChanged(self, title: str) -> None:
        if self.logic.case is not None and title:
            self.logic.showContrast(title)

    def onNext(self) -> None:
        label = "real" if self.ui.realRadioButton.checked else "synthetic" if self.ui.syntheticRadioButton.checked else None
        if label is None:
            slicer.util.warningDisplay("Choose real or synthetic first (keys R / S).")
            return
        with slicer.util.tryWithErrorDisplay("The answer was not saved.", waitCursor=True):
            self.logic.answer(label, self.ui.confidenceSpinBox.value, self.ui.realismSpinBox.value, self.ui.commentLineEdit.text)
            self._showReaderState()

    def onBack(self) -> None:
        with slicer.util.tryWithErrorDisplay("Cannot go back.", waitCursor=True):
            self.logic.goBack()
            self._showReaderState()

    def _showReaderState(self) -> None:
        session = self.logic.session
        reading = session is not None and session.current is not None
        for widget in (self.ui.answerGroupBox, self.ui.nextButton, self.ui.contrastComboBox):
            widget.enabled = reading
        self.ui.backButton.enabled = bool(session and session.can_go_back())
        if session is None:
            self.ui.progressLabel.text = "No session open"
            return
        progress = session.progress
        if not reading:
            self.ui.progressLabel.text = f"Done: {progress.answered} / {progress.total} answered. Thank you."
            return
        self.ui.progressLabel.text = f"{progress.position} / {progress.total}"
        earlier = session.current_answer
        self.ui.realRadioButton.setAutoExclusive(False)  # lets both be cleared for a new case
        self.ui.realRadioButton.checked = bool(earlier and earlier.label == "real")
        self.ui.syntheticRadioButton.checked = bool(earlier and earlier.label == "synthetic")
        self.ui.realRadioButton.setAutoExclusive(True)
        self.ui.confidenceSpinBox.value = earlier.confidence if earlier else 3
        self.ui.realismSpinBox.value = earlier.realism if earlier else 3
        self.ui.commentLineEdit.text = earlier.comment if earlier else ""
        with _blocked(self.ui.contrastComboBox):
            self.ui.contrastComboBox.clear()
            self.ui.contrastComboBox.addItems(self.logic.contrastTitles())
            self.ui.contrastComboBox.currentText = self.logic.shownContrastTitle()

    # --- results -----------------------------------------------------------------------------------

    def onAnalyze(self) -> None:
        with slicer.util.tryWithErrorDisplay("The analysis failed.", waitCursor=True):
            analysis, paths = self.logic.analyze(self._parameterNode)
            pooled = analysis.pooled
            low, high = pooled["ci95"]
            self.ui.resultsSummaryLabel.text = (
                f"Pooled accuracy {pooled['accuracy']:.3f} (95% CI {low:.3f}-{high:.3f}), "
                f"p = {pooled['p_value']:.3g}, n = {pooled['n']} answers from {len(analysis.readers)} reader(s)."
            )
            self.ui.openReportButton.enabled = "report.html" in paths

    def onOpenReport(self) -> None:
        report = self._parameterNode.resultsDirectory / "report.html"
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(report)))


class _blocked:
    """Blocks a widget's signals while it is refilled (no contrast change reaches the Logic)."""

    def __init__(self, widget) -> None:
        self.widget = widget

    def __enter__(self):
        self.previous = self.widget.blockSignals(True)

    def __exit__(self, *exc_info) -> None:
        self.widget.blockSignals(self.previous)


class SynthPathologyTuringTestLogic(ScriptedLoadableModuleLogic):
    """GUI-free: the session and the case on screen. Everything else is SynthPathologyLib."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.session = None
        self.case = None

    def getParameterNode(self):
        return SynthPathologyTuringTestParameterNode(super().getParameterNode())

    def createPackage(self, params):
        from SynthPathologyLib.turing import CreateOptions, Settings, create_package

        readers = tuple(r.strip() for r in params.readers.split(",") if r.strip())
        options = CreateOptions(
            n_cases=params.cases or None,
            fraction_synthetic=params.fractionSynthetic,
            readers=readers,
            seed=params.studySeed,
            settings=Settings(allow_back=params.allowBack),
        )
        return create_package(params.realDirectory, params.syntheticDirectory, params.packageDirectory, params.keyFile, options)

    def auditPackage(self, params):
        from SynthPathologyLib.turing import audit_package

        return audit_package(params.packageDirectory, params.keyFile if params.keyFile.is_file() else None)

    def openSession(self, package: Path, reader: str) -> None:
        """Open (or resume) ``reader``'s session and show the case to read."""
        from SynthPathologyLib.turing import open_session

        self.closeSession()
        self.session = open_session(package, reader)
        self._showCurrent()

    def closeSession(self) -> None:
        from SynthPathologyLib.mrml.reading import clear_reading_nodes

        if self.session is not None:
            self.session.close()
            self.session = None
        if self.case is not None:
            clear_reading_nodes(slicer.mrmlScene)
            self.case = None

    def _showCurrent(self) -> None:
        from SynthPathologyLib.mrml.reading import clear_reading_nodes, show_blinded_case

        if self.session.current is None:
            clear_reading_nodes(slicer.mrmlScene)
            self.case = None
            return
        self.case = show_blinded_case(slicer.mrmlScene, self.session.package, self.session.current)
        slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpView)
        slicer.util.resetSliceViews()

    def contrastTitles(self) -> list[str]:
        from SynthPathologyLib.pathologies import contrast_title

        return [contrast_title(c) for c in self.case.volume_nodes] if self.case else []

    def shownContrastTitle(self) -> str:
        from SynthPathologyLib.pathologies import contrast_title

        return contrast_title(self.case.shown_contrast) if self.case else ""

    def showContrast(self, title: str) -> None:
        from SynthPathologyLib.mrml.reading import show_reading_contrast
        from SynthPathologyLib.pathologies import contrast_title

        contrast = next(c for c in self.case.volume_nodes if contrast_title(c) == title)
        show_reading_contrast(slicer.mrmlScene, self.case, contrast)

    def answer(self, label: str, confidence: int, realism: int, comment: str = "") -> None:
        """Commit the answer for the case on screen (synced to disk) and show the next one."""
        self.session.record(label, confidence, realism, comment)
        self._showCurrent()

    def goBack(self) -> None:
        self.session.go_back()
        self._showCurrent()

    def analyze(self, params):
        from SynthPathologyLib.turing import analyze_study, write_report

        analysis = analyze_study(params.packageDirectory, params.keyFile)
        return analysis, write_report(analysis, params.resultsDirectory)


class SynthPathologyTuringTestTest(ScriptedLoadableModuleTest):
    """A small study from two phantom datasets: create, audit, read every case, analyze."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_study_round_trip()

    def test_study_round_trip(self):
        import tempfile

        from SynthPathologyLib.phantom.dataset import write_phantom_dataset
        from SynthPathologyLib.phantom.generator import PhantomOptions

        root = Path(tempfile.mkdtemp(prefix="SynthPathologyTuringTest-"))
        self.delayDisplay("Building two small phantom datasets (2 mm)")
        write_phantom_dataset(root / "real", 2, seed=1, options=PhantomOptions(resolution_mm=2.0))
        write_phantom_dataset(root / "synthetic", 2, seed=2, options=PhantomOptions(resolution_mm=2.0))
        logic = SynthPathologyTuringTestLogic()
        params = logic.getParameterNode()
        params.realDirectory, params.syntheticDirectory = root / "real", root / "synthetic"
        params.packageDirectory, params.keyFile = root / "package", root / "key.json"
        params.readers, params.studySeed = "reader1", 3
        logic.createPackage(params)
        self.assertTrue(logic.auditPackage(params).ok)

        logic.openSession(params.packageDirectory, "reader1")
        started = time.monotonic()
        while logic.session.current is not None:
            names = {node.GetName() for node in logic.case.volume_nodes.values()}
            self.assertEqual(names, {"T1", "T1c", "T2", "FLAIR"})
            logic.answer("real", 3, 4)
        self.assertEqual(logic.session.progress.answered, 4)
        logic.closeSession()

        params.resultsDirectory = root / "results"
        analysis, paths = logic.analyze(params)
        self.assertEqual(analysis.pooled["n"], 4)
        self.assertIn("report.html", paths)
        self.delayDisplay(f"Test passed in {time.monotonic() - started:.1f} s")
