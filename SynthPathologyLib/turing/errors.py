"""Errors of the visual Turing test: bad study packages, answer keys, journals and sessions.

All derive from :class:`~SynthPathologyLib.core.errors.SynthPathologyError`, so the command line prints
their one-line message and exits with status 2.
"""

from ..core.errors import SynthPathologyError


class StudyPackageError(SynthPathologyError):
    """A study package cannot be created or opened (missing, malformed or unsafe manifest)."""


class UnsafePathError(StudyPackageError):
    """A path in a manifest leads outside its package (``..``, absolute, symbolic link)."""


class AnswerKeyError(SynthPathologyError):
    """An answer key is missing, malformed, misplaced or belongs to another package."""


class JournalCorruptError(SynthPathologyError):
    """A reader's journal holds a damaged or inconsistent line (named by file and line number)."""


class ReaderBusyError(SynthPathologyError):
    """Another process holds the reader's journal lock (a session is already open)."""


class SessionError(SynthPathologyError):
    """A refused reading-session request (unknown reader or case, going back not allowed, bad answer)."""
