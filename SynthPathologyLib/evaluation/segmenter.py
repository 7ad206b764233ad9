"""The evaluation segmenter: a small MONAI SegResNet that segments tumor regions, and whose pooled
encoder features are the embedding for FID/KID (no pretrained 3D backbone can be downloaded).

Input (B, C, z, y, x): the pathology's contrasts, each divided by its 99.5th brain percentile
(:mod:`SynthPathologyLib.networks.conditioning`), at the card's spacing. Output (B, R, z, y, x) logits, one
sigmoid channel per nested region (glioma: WT, TC, ET; see :mod:`.overlap`).

A model folder holds ``segmenter.safetensors`` and ``model_card.json``
(:class:`~SynthPathologyLib.models.segmenter.SegmenterCard`, read by :mod:`SynthPathologyLib.models.card`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import SegResNet

from ..core.case import Case
from ..core.precision import fast_autocast
from ..core.resources import resource_path
from ..core.voxel_box import centered_box
from ..models.card import load_weights, read_card
from ..models.segmenter import SegmenterCard
from ..networks.conditioning import intensity_scale

DEFAULT_SEGMENTER = resource_path("Models/glioma_phantom_segresnet")


def build_segmenter(card: SegmenterCard) -> SegResNet:
    """SegResNet: (B, len(contrasts), z, y, x) -> (B, len(regions), z, y, x) logits; sides must be
    multiples of 2 ** (len(blocks_down) - 1)."""
    return SegResNet(spatial_dims=3, in_channels=len(card.contrasts), out_channels=len(card.regions),
                     init_filters=card.init_filters, blocks_down=tuple(card.blocks_down),
                     blocks_up=(1,) * (len(card.blocks_down) - 1), norm="INSTANCE")


@dataclass
class Segmenter:
    """A segmenter ready for inference (eval mode) with its card and weights hash."""

    network: SegResNet
    card: SegmenterCard
    sha256: str = ""

    def to(self, device: torch.device) -> "Segmenter":
        self.network.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device


def load_segmenter(folder: str | Path | None = None) -> Segmenter:
    """Load a segmenter folder (default: the shipped one); one-line errors for a missing folder, a
    bad card or weights that do not fit it."""
    folder = folder or DEFAULT_SEGMENTER
    card = read_card(folder, SegmenterCard)
    network = build_segmenter(card)
    return Segmenter(network, card, load_weights(folder, network, card))


def resample_to_spacing(image: sitk.Image, spacing_xyz, is_label: bool = False) -> sitk.Image:
    """``image`` on a grid of the same extent, origin and direction at ``spacing_xyz`` (mm); the
    image itself when its spacing already matches within 1%."""
    spacing = np.asarray(image.GetSpacing())
    if np.allclose(spacing, spacing_xyz, rtol=0.01):
        return image
    size = [max(1, int(round(n * s / t))) for n, s, t in zip(image.GetSize(), spacing, spacing_xyz)]
    interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
    return sitk.Resample(image, size, sitk.Transform(), interpolator, image.GetOrigin(),
                         tuple(float(t) for t in spacing_xyz), image.GetDirection(), 0.0, image.GetPixelID())


@dataclass
class NetworkInput:
    """A case as the segmenter sees it: image (C, z, y, x) float32 normalized, label (z, y, x)
    uint8 (zeros without label), brain (z, y, x) bool, all at the segmenter's spacing."""

    image: np.ndarray
    label: np.ndarray
    brain: np.ndarray


def network_input(case: Case, card: SegmenterCard) -> NetworkInput:
    """Normalize ``case``'s contrasts and resample them, its label and brain mask to the card's spacing."""
    case.require_contrasts(card.contrasts)
    mask = resample_to_spacing(case.mask(), card.spacing_mm, is_label=True)
    brain = sitk.GetArrayFromImage(mask) > 0
    arrays = [sitk.GetArrayFromImage(resample_to_spacing(case.images[c], card.spacing_mm)).astype(np.float32)
              for c in card.contrasts]
    image = np.stack([a / intensity_scale(a, brain) for a in arrays])
    label = (np.zeros(brain.shape, np.uint8) if case.label is None
             else sitk.GetArrayFromImage(resample_to_spacing(case.label, card.spacing_mm, is_label=True)))
    return NetworkInput(image, label, brain)


def regions_to_label(regions: np.ndarray, region_values: dict[str, tuple[int, ...]]) -> np.ndarray:
    """(R, z, y, x) bool nested regions (outermost first) -> (z, y, x) uint8 label map: a voxel
    takes the label that its innermost region adds to the next one (glioma: WT only -> 2 ED,
    TC but not ET -> 1 NCR, ET -> 3)."""
    values = list(region_values.values())
    label = np.zeros(regions.shape[1:], np.uint8)
    for index, outer in enumerate(values):
        inner = set(values[index + 1]) if index + 1 < len(values) else set()
        own = sorted(set(outer) - inner)
        label[regions[index]] = own[0]
    return label


@torch.inference_mode()
def segment(segmenter: Segmenter, data: NetworkInput) -> np.ndarray:
    """(z, y, x) uint8 label map predicted inside the brain, at the segmenter's spacing
    (sliding window of the training patch, bf16 autocast where fast)."""
    tensor = torch.from_numpy(data.image)[None].to(segmenter.device)
    with fast_autocast(segmenter.device):
        logits = sliding_window_inference(tensor, roi_size=tuple(segmenter.card.patch_size), sw_batch_size=2,
                                          predictor=segmenter.network, overlap=0.25, mode="gaussian")
    regions = (logits[0].float() > 0).cpu().numpy() & data.brain[None]
    return regions_to_label(regions, segmenter.card.regions)


def lesion_crop(data: NetworkInput, side: int, label: np.ndarray | None = None) -> NetworkInput:
    """The ``side``³ crop of ``data`` centred on the lesion's centroid (``label``, default the
    case's), zero-padded where the volume is smaller; grown to hold the whole lesion plus a
    quarter ``side`` of context when the lesion is larger."""
    label = data.label if label is None else label
    voxels = np.argwhere(label > 0)
    if not len(voxels):
        raise ValueError("no lesion voxels to centre the crop on")
    extent = voxels.max(axis=0) - voxels.min(axis=0) + 1 + side // 2
    size = tuple(int(max(side, -(-e // 8) * 8)) for e in extent)  # multiples of 8 for the network
    box = centered_box((voxels.min(axis=0) + voxels.max(axis=0)) / 2, size, label.shape)
    missing = [(0, n - (b.stop - b.start)) for n, b in zip(size, box)]
    return NetworkInput(np.pad(data.image[(slice(None), *box)], [(0, 0)] + missing),
                        np.pad(label[box], missing), np.pad(data.brain[box], missing))


@torch.inference_mode()
def encoder_features(segmenter: Segmenter, data: NetworkInput, label: np.ndarray | None = None) -> np.ndarray:
    """(D,) float64 features of the lesion: the segmenter's encoder run on the ``feature_crop``³
    crop around the lesion (:func:`lesion_crop`), each encoder level average-pooled over space
    and the levels concatenated (D = init_filters * (2 ** levels - 1))."""
    crop = lesion_crop(data, segmenter.card.feature_crop, label)
    tensor = torch.from_numpy(np.ascontiguousarray(crop.image))[None].to(segmenter.device)
    with fast_autocast(segmenter.device):
        _, levels = segmenter.network.encode(tensor)
    return torch.cat([level.float().mean(dim=(2, 3, 4)) for level in levels], dim=1)[0].cpu().double().numpy()
