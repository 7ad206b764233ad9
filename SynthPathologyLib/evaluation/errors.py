"""Errors of the evaluation commands; the command line prints their one-line message and exits 2."""

from ..core.errors import SynthPathologyError


class EvaluationError(SynthPathologyError):
    """Evaluation input that cannot be used: empty folders, mismatched contrasts, bad provenance."""


class LeakageError(EvaluationError):
    """A synthetic training case derives from a test patient (or its origin cannot be verified)."""
