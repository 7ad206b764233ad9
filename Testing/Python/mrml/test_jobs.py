"""Scene jobs: steps computed in a worker thread and applied on the polling thread, with progress,
cancel and one-line errors; saving variants as a job in a real slicer-core scene."""

from __future__ import annotations

import json
import threading

import pytest
from helpers.mrml import add_roi, load_case_into_scene, node_counts, seed_ras

from SynthPathologyLib.core.errors import LesionPlacementError, SynthPathologyError
from SynthPathologyLib.core.image_io import lps_to_ras
from SynthPathologyLib.io.brats import read_brats_case
from SynthPathologyLib.mrml import JobState, SceneJob, Step, create_headless_scene, synthesis_steps, variant_steps
from SynthPathologyLib.synthesis.session import SynthesisSession


def thread_steps(count: int) -> tuple[list[Step], list[tuple[str, int]]]:
    """``count`` steps that record on which thread each part ran: ("compute" | "apply", thread id)."""
    ran = []

    def compute(index: int) -> int:
        ran.append(("compute", threading.get_ident()))
        return index

    def apply(index: int) -> str:
        ran.append(("apply", threading.get_ident()))
        return f"step {index}"

    return [Step(lambda i=i: compute(i), apply) for i in range(count)], ran


def test_steps_compute_in_a_worker_and_apply_on_the_polling_thread_with_progress():
    steps, ran = thread_steps(3)
    changes = []
    job = SceneJob("Counting", steps, on_change=lambda j: changes.append((j.state, j.done, j.total)))
    assert job.state is JobState.READY and not job.finished

    assert job.wait(poll_s=0.001) is JobState.DONE
    assert job.results == ["step 0", "step 1", "step 2"] and job.error == ""
    me = threading.get_ident()
    assert [thread == me for part, thread in ran if part == "apply"] == [True] * 3
    assert not any(thread == me for part, thread in ran if part == "compute")
    assert changes == [(JobState.RUNNING, 0, 3), (JobState.RUNNING, 1, 3), (JobState.RUNNING, 2, 3),
                       (JobState.RUNNING, 3, 3), (JobState.DONE, 3, 3)]


def test_poll_applies_nothing_before_the_worker_is_done():
    release = threading.Event()
    job = SceneJob("Waiting", [Step(lambda: release.wait(5) and "computed", lambda value: value)])
    job.start()
    assert job.poll() is JobState.RUNNING and job.results == []
    release.set()
    assert job.wait(poll_s=0.001) is JobState.DONE and job.results == ["computed"]


def test_cancel_lets_the_step_in_flight_finish_and_starts_no_other():
    release = threading.Event()
    steps = [Step(lambda: release.wait(5), lambda _: "first"), Step(lambda: pytest.fail("not started"), print)]
    job = SceneJob("Two steps", steps)
    job.start()
    job.cancel()
    assert job.state is JobState.CANCELLING
    release.set()
    assert job.wait(poll_s=0.001) is JobState.CANCELLED
    assert job.results == ["first"] and (job.done, job.total) == (1, 2)


def test_a_job_cancelled_before_it_starts_runs_nothing():
    steps, ran = thread_steps(2)
    job = SceneJob("Never", steps)
    job.cancel()
    assert job.state is JobState.CANCELLED and job.finished and ran == []
    with pytest.raises(SynthPathologyError, match="already started"):
        job.start()


def test_an_exception_in_the_worker_becomes_a_one_line_error(caplog):
    def broken() -> None:
        raise ValueError("bad voxels\nsecond line of detail")

    job = SceneJob("Generating", [Step(broken, print)])
    assert job.wait(poll_s=0.001) is JobState.FAILED
    assert job.error == "Generating failed: ValueError: bad voxels" and job.results == []
    assert "Traceback" in caplog.text  # a bug keeps its traceback in the log


def test_a_user_error_in_the_worker_names_only_itself_and_leaves_the_scene_unchanged(healthy_case):
    app = create_headless_scene()
    volumes = load_case_into_scene(app.scene, healthy_case)
    corner = lps_to_ras(healthy_case.reference.TransformIndexToPhysicalPoint((2, 2, 2)))
    seed = add_roi(app.scene, corner, (8.0, 8.0, 8.0))
    counts = node_counts(app.scene)
    with pytest.raises(LesionPlacementError) as raised:  # what the same step raises when run directly
        synthesis_steps(app.scene, volumes, seed)[0].run()

    job = SceneJob("Generating", synthesis_steps(app.scene, volumes, seed))
    assert job.wait() is JobState.FAILED
    assert job.error == f"Generating failed: {raised.value}" and "\n" not in job.error
    assert node_counts(app.scene) == counts


def test_cancel_between_variants_leaves_only_complete_case_folders(healthy_case, tmp_path):
    app = create_headless_scene()
    volumes = load_case_into_scene(app.scene, healthy_case)
    seed = add_roi(app.scene, seed_ras(healthy_case), (8.0, 8.0, 8.0))
    steps = variant_steps(app.scene, volumes, seed, tmp_path, variants=3, first_seed=4, case_id="Demo",
                          session=SynthesisSession())

    job = SceneJob("Saving 3 variants", steps, on_change=lambda j: j.done == 1 and j.cancel())
    assert job.wait() is JobState.CANCELLED
    assert job.results == [tmp_path / "Demo-v4"] and sorted(tmp_path.iterdir()) == job.results
    saved = read_brats_case(job.results[0])
    assert saved.label is not None and set(saved.images) == set(volumes)
    assert json.loads((job.results[0] / "provenance.json").read_text())["random_seed"] == 4
    shown = app.scene.GetFirstNodeByName("Patient FLAIR (synthetic)")
    assert shown is not None  # the saved variant is shown, applied on this thread
