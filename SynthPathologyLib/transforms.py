"""On-the-fly synthetic lesions in a MONAI pipeline.

:class:`RandLesionSynthesisd` paints a fresh random lesion into each sample a data loader draws,
instead of reading synthetic cases written ahead of time::

    from monai.transforms import Compose, LoadImaged, EnsureChannelFirstd, ConcatItemsd
    from SynthPathologyLib.transforms import RandLesionSynthesisd

    train = Compose([
        LoadImaged(keys=["t1", "t1c", "t2", "flair", "label"]),
        EnsureChannelFirstd(keys=["t1", "t1c", "t2", "flair", "label"]),
        ConcatItemsd(keys=["t1", "t1c", "t2", "flair"], name="image"),
        RandLesionSynthesisd(keys=("image", "label"), prob=0.5),
        ...  # crops, intensity augmentation, ToTensord
    ])

The image is (C, *spatial) in the scanner's intensities with its channels in ``contrasts`` order;
the label (1, *spatial) holds the pathology's values (glioma: 1 NCR, 2 ED, 3 ET). Spatial axes are
the voxel index axes (i, j, k) of a MetaTensor's ``affine`` (MONAI's RAS world, mm); a plain tensor
or array is taken as 1 mm voxels on identity axes. Outputs keep the input's type, dtype, device and
meta data; the existing label survives (the new lesion keeps away from it).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform

from .core.case import Case
from .core.errors import LesionPlacementError
from .lesions.sampling import random_lesion_spec
from .synthesis.synthesizer import Synthesizer

# MONAI's world is RAS, SimpleITK's LPS: x and y change sign.
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def to_sitk(array: np.ndarray, affine: np.ndarray | None) -> sitk.Image:
    """A (i, j, k) array as a SimpleITK image whose geometry is ``affine`` (4x4, voxel index ->
    RAS mm; None = 1 mm identity)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array, (2, 1, 0))))
    if affine is not None:
        lps = _RAS_TO_LPS @ affine
        spacing = np.linalg.norm(lps[:3, :3], axis=0)
        image.SetSpacing(spacing.tolist())
        image.SetDirection((lps[:3, :3] / spacing).ravel().tolist())
        image.SetOrigin(lps[:3, 3].tolist())
    return image


def from_sitk(image: sitk.Image) -> np.ndarray:
    """The (i, j, k) array of a SimpleITK image (the inverse of :func:`to_sitk`)."""
    return np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))


def ras_affine(image: sitk.Image) -> np.ndarray:
    """(4, 4) float64: the voxel index (i, j, k) -> RAS mm affine of a SimpleITK image, as a
    MetaTensor carries it."""
    affine = np.eye(4)
    affine[:3, :3] = np.reshape(image.GetDirection(), (3, 3)) * np.asarray(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    return _RAS_TO_LPS @ affine  # the same flip maps LPS to RAS


class RandLesionSynthesisd(RandomizableTransform, MapTransform):
    """With probability ``prob``, paint a random lesion of ``pathology`` into a sample's image and
    label.

    Args:
        keys: the image key (C, *spatial) and the label key (1, *spatial), in that order.
        prob: probability of painting a lesion into a sample.
        contrasts: the image's channels, in order; they must be the model's contrasts.
        pathology: registered pathology whose sampler places the lesion.
        model: model folder (default: the pathology's shipped model).
        device: where the generator runs ("cpu", "cuda", "auto").
        diameter_range_mm: range of the lesion core's mean diameter, mm.
        attempts: random sites tried before a sample is returned unchanged.

    The generator is loaded on first use in each process (data loader workers included) and not
    pickled with the transform. Deterministic under ``set_random_state``.
    """

    def __init__(self, keys: KeysCollection = ("image", "label"), prob: float = 0.5,
                 contrasts: Sequence[str] = ("t1", "t1c", "t2", "flair"), pathology: str = "glioma",
                 model: str | Path | None = None, device: str = "cpu",
                 diameter_range_mm: tuple[float, float] = (15.0, 40.0), attempts: int = 5) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        if len(self.keys) != 2:
            raise ValueError(f"keys must name the image and the label, got {self.keys}")
        self.contrasts, self.pathology, self.model, self.device = tuple(contrasts), pathology, model, device
        self.diameter_range_mm, self.attempts = tuple(diameter_range_mm), attempts
        self._synthesizer: Synthesizer | None = None
        self._seed = 0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_synthesizer": None}  # each worker loads its own generator

    @property
    def synthesizer(self) -> Synthesizer:
        if self._synthesizer is None:
            self._synthesizer = Synthesizer(self.model, device=self.device)
            if tuple(self._synthesizer.card.contrasts) != self.contrasts:
                raise ValueError(f"the model expects contrasts {self._synthesizer.card.contrasts}, "
                                 f"the transform was given {self.contrasts}")
        return self._synthesizer

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._seed = int(self.R.randint(2**31))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        out = dict(data)
        self.randomize()
        if not self._do_transform:
            return out
        image_key, label_key = self.keys
        image, label = out[image_key], out[label_key]
        painted = self._paint(_numpy(image), _numpy(label)[0], _affine(image))
        if painted is not None:
            out[image_key] = _like(painted[0], image)
            out[label_key] = _like(painted[1][None], label)
        return out

    def _paint(self, image: np.ndarray, label: np.ndarray, affine: np.ndarray | None):
        """((C, *spatial) image, (*spatial) label) with a new lesion, or None when no site fits."""
        if image.shape[0] != len(self.contrasts):
            raise ValueError(f"the image has {image.shape[0]} channels, contrasts are {self.contrasts}")
        case = Case({c: to_sitk(image[i], affine) for i, c in enumerate(self.contrasts)},
                    label=to_sitk(label.astype(np.uint8), affine), pathology=self.pathology, case_id="sample")
        prepared = self.synthesizer.prepare(case, estimate_white_matter=True)
        rng = np.random.default_rng(self._seed)
        existing = label > 0
        white_matter = (sitk.GetArrayViewFromImage(prepared.white_matter) if prepared.white_matter is not None
                        else prepared.brain.astype(np.float32))
        for _ in range(self.attempts):
            spec = random_lesion_spec(prepared.brain, white_matter, case.reference, rng, self.diameter_range_mm,
                                      exclude=np.transpose(existing, (2, 1, 0)), pathology=self.pathology)
            if spec is None:
                continue
            try:
                result = self.synthesizer.synthesize(prepared, spec).case
            except LesionPlacementError:
                continue
            new_label = from_sitk(result.label)
            return (np.stack([from_sitk(result.images[c]) for c in self.contrasts]),
                    np.where(new_label > 0, new_label, label).astype(label.dtype))
        return None


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _affine(value: Any) -> np.ndarray | None:
    return value.affine.detach().cpu().numpy().astype(np.float64) if isinstance(value, MetaTensor) else None


def _like(array: np.ndarray, reference: Any) -> Any:
    """``array`` as ``reference``'s type, dtype and device (meta data of a MetaTensor kept)."""
    if isinstance(reference, torch.Tensor):
        tensor = torch.as_tensor(np.ascontiguousarray(array), dtype=reference.dtype, device=reference.device)
        if isinstance(reference, MetaTensor):
            return MetaTensor(tensor, meta=dict(reference.meta), applied_operations=list(reference.applied_operations))
        return tensor
    return np.asarray(array, dtype=np.asarray(reference).dtype)
