"""The phantom's anatomy: a skull-stripped T1 with its tissue maps.

By default the MNI152 2009a symmetric template (ICBM 152, 1 mm, 197 x 233 x 189 voxels) with its
grey- and white-matter probability maps, read from the copy shipped inside the nilearn package
(no download, and nilearn itself is not imported: it is slow to import). Any other skull-stripped
T1 with a brain mask works too (:func:`load_brain`); its tissue maps are then estimated.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..core.errors import SynthPathologyError
from ..core.image_io import read_image, require_same_grid
from .tissue import TissueMaps, tissue_maps_from_arrays

MNI_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
# The template is skull-stripped with a zero background; brain voxels are above this fraction of
# its maximum (the darkest brain voxels, ventricular CSF, sit near 10%).
MNI_BRAIN_THRESHOLD = 0.04


@dataclass
class Brain:
    """A skull-stripped brain: T1 and tissue maps on one grid.

    Attributes:
        t1: float32 T1-weighted intensities (arbitrary units, 0 outside the brain).
        tissues: CSF / GM / WM probabilities and the brain mask, on ``t1``'s grid.
        name: where it came from, for messages.

    Brains returned by :func:`load_default_brain` are cached and shared: do not modify them.
    """

    t1: sitk.Image
    tissues: TissueMaps
    name: str = "brain"

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return tuple(self.t1.GetSpacing())

    def at_resolution(self, resolution_mm: float) -> "Brain":
        """This brain on an isotropic grid of ``resolution_mm`` covering the same field of view.

        Returns ``self`` if it already has that spacing. The T1 and the tissue probabilities are
        low-pass filtered before linear resampling (so coarser voxels average finer ones, as
        partial volume does); the mask is the resampled mask above one half.
        """
        if np.allclose(self.spacing_mm, resolution_mm, rtol=1e-6, atol=0):
            return self
        grid = isotropic_grid(self.t1, resolution_mm)
        mask = _resample(sitk.Cast(self.tissues.brain_mask, sitk.sitkFloat32), grid, resolution_mm) > 0.5
        gm = _resample(self.tissues.gm, grid, resolution_mm)
        wm = _resample(self.tissues.wm, grid, resolution_mm)
        t1 = _resample(self.t1, grid, resolution_mm) * mask
        tissues = tissue_maps_from_arrays(gm, wm, mask, grid)
        t1_image = sitk.GetImageFromArray(t1.astype(np.float32))
        t1_image.CopyInformation(grid)
        return Brain(t1_image, tissues, f"{self.name} at {resolution_mm:g} mm")


def isotropic_grid(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """An empty image with ``image``'s direction and field of view, on voxels of ``spacing_mm``.

    The new grid's outer voxel corners coincide with the old ones (up to a fraction of a voxel
    where the extent is not a multiple of ``spacing_mm``).
    """
    old_spacing = np.asarray(image.GetSpacing())
    extent = np.asarray(image.GetSize()) * old_spacing
    size = np.maximum(np.round(extent / spacing_mm), 1).astype(int)
    direction = np.reshape(image.GetDirection(), (3, 3))
    # Both grids' corner (index -0.5) at the same point: shift the origin by half a voxel change.
    origin = np.asarray(image.GetOrigin()) + direction @ ((spacing_mm - old_spacing) / 2)
    grid = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    grid.SetSpacing([float(spacing_mm)] * 3)
    grid.SetOrigin(tuple(origin))
    grid.SetDirection(image.GetDirection())
    return grid


def _resample(image: sitk.Image, grid: sitk.Image, spacing_mm: float) -> np.ndarray:
    """``image`` low-pass filtered for ``spacing_mm`` voxels and linearly resampled onto ``grid``,
    float32 (z, y, x)."""
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    # A Gaussian of FWHM equal to the blur a box of the new voxel size adds (sigma in voxels, z y x).
    sigma = [np.sqrt(max(spacing_mm**2 - s**2, 0.0)) / 2.355 / s for s in image.GetSpacing()[::-1]]
    smooth = sitk.GetImageFromArray(ndimage.gaussian_filter(array, sigma, mode="constant"))
    smooth.CopyInformation(image)
    resampled = sitk.Resample(smooth, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(resampled)


def nilearn_data_folder() -> Path:
    """The folder of data files inside the installed nilearn package (nilearn is not imported)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        raise SynthPathologyError(
            "the default brain needs the nilearn package (pip install nilearn), "
            "or give your own T1 and brain mask"
        )
    return Path(os.path.dirname(spec.origin)) / "datasets" / "data"


@lru_cache(maxsize=4)
def load_default_brain(resolution_mm: float = 1.0) -> Brain:
    """The MNI152 2009a template brain with its tissue maps, at ``resolution_mm`` (isotropic).

    Cached per resolution (do not modify the result); see :func:`_load_mni_brain`.
    """
    return _load_mni_brain().at_resolution(resolution_mm)


@lru_cache(maxsize=1)
def _load_mni_brain() -> Brain:
    """The template at its native 1 mm.

    Brain mask: the template above ``MNI_BRAIN_THRESHOLD`` of its maximum, holes filled, largest
    connected component. Tissue maps: the template's GM and WM probabilities inside the mask, CSF
    the rest.
    """
    folder = nilearn_data_folder()
    images = {key: read_image(folder / name) for key, name in MNI_FILES.items()}
    t1 = sitk.Cast(images["t1"], sitk.sitkFloat32)
    mask = _largest_component(sitk.BinaryFillhole(t1 > MNI_BRAIN_THRESHOLD * _max(t1)))
    inside = sitk.GetArrayFromImage(mask).astype(bool)
    # The maps are stored as uint8, 255 meaning probability 1.
    gm, wm = (sitk.GetArrayFromImage(images[key]).astype(np.float32) / 255.0 for key in ("gm", "wm"))
    return Brain(sitk.Mask(t1, mask), tissue_maps_from_arrays(gm, wm, inside, t1), "MNI152 2009a template")


def load_brain(t1_path: str | os.PathLike, mask_path: str | os.PathLike) -> Brain:
    """A brain from a skull-stripped T1 file and its brain-mask file; tissue maps are estimated with
    the registered template's priors (:func:`~SynthPathologyLib.phantom.atlas.estimate_tissue_maps_with_priors`).
    The T1 is zeroed outside the mask.

    Raises:
        ImageFileError: a file is missing, unreadable or not a 3D scalar image.
        GridMismatchError: the mask is not on the T1's grid.
    """
    t1 = sitk.Cast(read_image(t1_path), sitk.sitkFloat32)
    mask = read_image(mask_path)
    require_same_grid(mask, t1, str(mask_path), str(t1_path))
    mask = sitk.Cast(mask != 0, sitk.sitkUInt8)
    mask.CopyInformation(t1)
    from .atlas import estimate_tissue_maps_with_priors  # it loads the template from here

    return Brain(sitk.Mask(t1, mask), estimate_tissue_maps_with_priors(t1, mask), str(t1_path))


def _max(image: sitk.Image) -> float:
    return float(sitk.GetArrayViewFromImage(image).max())


def _largest_component(mask: sitk.Image) -> sitk.Image:
    components = sitk.RelabelComponent(sitk.ConnectedComponent(mask))  # largest first
    return sitk.Cast(components == 1, sitk.sitkUInt8)
