"""User-facing errors.

Every exception raised because of the user's input (a bad file, a refused seed) derives from
:class:`SynthPathologyError`; its message names the file or value and the problem, so the command
line prints the message alone, without a traceback.
"""


class SynthPathologyError(Exception):
    """Bad input or a refused request, explained in one line."""


class ImageFileError(SynthPathologyError):
    """An image file is unreadable, corrupt, not 3D, or holds invalid voxels or geometry."""


class GridMismatchError(SynthPathologyError):
    """Images that must share one voxel grid do not."""


class CaseError(SynthPathologyError):
    """A case or dataset is incomplete or inconsistent (missing contrasts, unknown labels)."""


class LesionPlacementError(SynthPathologyError):
    """A lesion cannot be placed as asked (seed outside the brain, size that cannot fit)."""
