"""The Python packages SynthPathologyLib needs, for installing them inside 3D Slicer.

Outside Slicer, pip installs them from ``pyproject.toml``. Inside Slicer the library is not pip
installed, so the module checks these imports on first use and offers to install what is missing:
torch through the PyTorch extension (it picks the build for the GPU), the rest with pip. The
requirement strings match ``pyproject.toml`` (a test keeps them in step).
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec
from types import ModuleType

from .errors import SynthPathologyError

TORCH_IMPORT = "torch"

REQUIREMENTS: dict[str, str] = {
    # import name -> pip requirement
    "numpy": "numpy>=1.26,<3",
    "SimpleITK": "SimpleITK>=2.3,<3",
    "nibabel": "nibabel>=5,<6",
    "nilearn": "nilearn>=0.10,<1",
    "tqdm": "tqdm>=4.60,<5",
    "monai": "monai>=1.5,<1.7",
    "safetensors": "safetensors>=0.4,<1",
    "yaml": "PyYAML>=6,<7",
    "scipy": "scipy>=1.15,<2",
    "sklearn": "scikit-learn>=1.3,<2",
    "statsmodels": "statsmodels>=0.14,<1",
    "matplotlib": "matplotlib>=3.9,<4",
}


def missing_requirements() -> list[str]:
    """pip requirements of the packages that cannot be imported (torch excluded, see
    :func:`torch_missing`), in install order."""
    return [requirement for name, requirement in REQUIREMENTS.items() if find_spec(name) is None]


def torch_missing() -> bool:
    return find_spec(TORCH_IMPORT) is None


def import_optional(module: str, extra: str) -> ModuleType:
    """Import ``module``, which an optional extra of the package installs; a one-line error says
    how to install it when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SynthPathologyError(
            f"this needs the {extra!r} extra ({module} is not installed): "
            f"pip install 'SynthPathologyLib[{extra}]'") from None


def install_in_slicer(ask: bool = True) -> bool:
    """Inside 3D Slicer: offer to install what is missing (after the user confirms, unless ``ask`` is
    false): torch through the PyTorch extension, which picks the build for the GPU, the rest with
    pip. Returns whether everything imports afterwards."""
    import slicer  # only inside Slicer

    missing, torch_needed = missing_requirements(), torch_missing()
    if not missing and not torch_needed:
        return True
    needed = (["torch (PyTorch extension)"] if torch_needed else []) + missing
    if ask and not slicer.util.confirmOkCancelDisplay(
        "SynthPathology needs these Python packages, which are not installed yet:\n\n"
        + "\n".join(needed) + "\n\nInstall them now? (This can take several minutes.)",
        windowTitle="SynthPathology: install dependencies",
    ):
        return False
    with slicer.util.tryWithErrorDisplay("Installing the dependencies failed.", waitCursor=True):
        if torch_needed:
            try:
                import PyTorchUtils
            except ImportError:
                slicer.util.errorDisplay("Install the PyTorch extension from the Extensions Manager, restart, "
                                         "and try again.")
                return False
            if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False) is None:
                return False
        if missing:
            slicer.util.pip_install(missing)
    return not missing_requirements() and not torch_missing()
