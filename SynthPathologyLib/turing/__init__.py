"""Visual Turing test: blinded real-vs-synthetic reading studies.

Modules:

- :mod:`.study_package`: the package readers get (manifest schema, path safety, :func:`open_package`)
- :mod:`.create`: drawing real and synthetic cases into a blinded package (:func:`create_package`)
- :mod:`.answer_key`: the key file kept outside the package
- :mod:`.audit`: can anything but the image content tell real from synthetic? (:func:`audit_package`)
- :mod:`.journal`: crash-safe per-reader answer journals and locks
- :mod:`.journal_format`: chained (and, with the study secret, keyed) journal lines and the head file
- :mod:`.session`: reading sessions for front ends (:func:`open_session`), single answers, progress
- :mod:`.analysis` and :mod:`.report`: statistics, CSV, ``summary.json`` and the HTML report
- :mod:`SynthPathologyLib.cli.turing`: the ``synthpathology turing`` command line

A front end (the Slicer module, a web page) needs only::

    session = open_session(package_folder, reader)   # resumes where the reader stopped
    while session.current is not None:
        show(session.current_files)                  # contrast -> NIfTI path
        session.record(label, confidence, realism, comment)   # committed to disk on return
    session.close()

The heavy entry points (:func:`create_package`, :func:`audit_package`, :func:`analyze_study`,
:func:`write_report`) load on first use, so opening a session stays quick.
"""

from importlib import import_module

from .journal import Answer, AnswerRecord
from .session import Progress, Session, open_session, reader_order, record_answer, study_status
from .study_package import Settings, StudyPackage, open_package

_LAZY = {
    "CreateOptions": "create",
    "create_package": "create",
    "audit_package": "audit",
    "load_key": "answer_key",
    "analyze_study": "analysis",
    "write_report": "report",
}

__all__ = [
    "Answer", "AnswerRecord", "Progress", "Session", "Settings", "StudyPackage", "open_package", "open_session",
    "reader_order", "record_answer", "study_status", *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
