"""Lesion mode's files: a BraTS case uploaded from the page (checked as it comes, read off the event
loop, then opened by the workflow) and the shown result downloaded as a zipped BraTS case."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from trame_server.utils.asynchronous import create_task

from ..core.errors import SynthPathologyError
from .downloads import brats_case_zip, download_case_id
from .tasks import reported_task, show_error
from .uploads import UploadError, UploadReceiver, read_uploaded_case, store_upload

if TYPE_CHECKING:
    from .lesion_workflow import LesionWorkflow

UPLOAD_IDLE_S = 60.0  # an upload whose next group of files takes longer is dropped


class LesionFiles:
    """The ``upload_check``, ``upload_chunk`` and ``download_case`` triggers of one workflow."""

    def __init__(self, workflow: LesionWorkflow):
        self.workflow = workflow
        self.server = workflow.server
        self.state = workflow.state
        self.uploads = UploadReceiver(workflow.limits)
        self._upload_timer: asyncio.TimerHandle | None = None
        self.server.trigger("upload_check")(self.upload_check)
        self.server.trigger("upload_chunk")(self.upload_chunk)
        self.server.trigger("download_case")(self.download_case)

    def upload_check(self, files: list[dict]) -> str:
        """Names and sizes the browser announces, checked before it sends any content; returns
        the refusal ("" when accepted), also shown in the page."""
        try:
            self.uploads.start(files)
        except UploadError as exc:
            show_error(self.state, str(exc))
            return str(exc)
        self._expect_more_upload()
        return ""

    def upload_chunk(self, files: list[dict]) -> None:
        """Receives the files in groups, counted against the limits as they come; an empty group
        ends the upload and opens the case."""
        if not self.uploads.active:
            return  # refused or abandoned earlier: the page was told
        try:
            if files:
                self.uploads.add(files if isinstance(files, list) else [None])
                self._expect_more_upload()
                return
            uploads = self.uploads.finish()
        except UploadError as exc:
            show_error(self.state, str(exc))
            return
        self._expect_more_upload(cancel=True)
        create_task(self._open_upload(uploads))

    def _expect_more_upload(self, cancel: bool = False) -> None:
        """(Re)start the clock that drops an upload whose next group does not come in time."""
        if self._upload_timer is not None:
            self._upload_timer.cancel()
            self._upload_timer = None
        if not cancel:
            self._upload_timer = asyncio.get_running_loop().call_later(UPLOAD_IDLE_S, self._drop_upload)

    def _drop_upload(self) -> None:
        if self.uploads.active:
            self.uploads.drop()
            show_error(self.state, f"the upload stopped for over {UPLOAD_IDLE_S:g} s and was dropped; "
                                   "choose the files again")

    async def _open_upload(self, uploads: list[dict]) -> None:
        workflow = self.workflow
        async with reported_task(self.server, "Reading the uploaded case…"):
            # Off the event loop: gigabytes of bad data must not freeze the other pages.
            folder = await asyncio.to_thread(store_upload, uploads, workflow.data, workflow.limits)
            del uploads
            try:
                case = await asyncio.to_thread(read_uploaded_case, folder)
            finally:
                workflow.data.remove(folder)  # the images are in memory now
            workflow.show_case(case)
            workflow.start_preparing()

    def download_case(self):
        """The shown result as a zipped BraTS case (an attachment for the page's download), its
        label written with the segment names of the pathology it was generated for."""
        workflow = self.workflow
        result = workflow.result
        if result is None:
            show_error(self.state, "nothing to download yet: generate a lesion first")
            return None
        operation = self.state.operation
        segmentation = result.segmentation_node if operation == "synthesize" else None
        case_id = download_case_id(workflow.case.case_id, operation, workflow.result_seed)
        try:
            payload = brats_case_zip(workflow.data, case_id, result.volume_nodes, segmentation, result.provenance,
                                     pathology=workflow.result_pathology)
        except SynthPathologyError as exc:
            show_error(self.state, str(exc))
            return None
        return self.server.protocol.addAttachment(payload)
