"""RandLesionSynthesisd in a real MONAI Compose + DataLoader with worker processes: reproducible
samples with a new lesion, the existing label kept, geometry and meta data kept."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.models import save_tiny_model
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import Compose

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.transforms import RandLesionSynthesisd, from_sitk, ras_affine, to_sitk

CONTRASTS = ("t1", "t1c", "t2", "flair")


def sample(case: Case) -> dict:
    affine = torch.as_tensor(ras_affine(case.reference))
    image = np.stack([from_sitk(case.images[c]) for c in CONTRASTS]).astype(np.float32)
    label = from_sitk(case.label)[None].astype(np.uint8)
    return {"image": MetaTensor(image, affine=affine), "label": MetaTensor(label, affine=affine)}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def draw(data: list[dict], model, workers: int) -> list[dict]:
    transform = Compose([RandLesionSynthesisd(keys=("image", "label"), prob=1.0, model=model,
                                              diameter_range_mm=(14.0, 18.0))]).set_random_state(seed=3)
    loader = DataLoader(Dataset(data, transform), batch_size=1, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    return list(loader)


def test_the_geometry_round_trips_through_simpleitk(tumor_case):
    image = tumor_case.images["flair"]
    back = to_sitk(from_sitk(image), ras_affine(image))
    assert np.allclose(back.GetOrigin(), image.GetOrigin()) and np.allclose(back.GetSpacing(), image.GetSpacing())
    assert np.allclose(back.GetDirection(), image.GetDirection())
    assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image))


def test_samples_get_a_lesion_reproducibly_in_worker_processes(healthy_case, tumor_case, model):
    data = [sample(healthy_case), sample(tumor_case)]
    first, second = draw(data, model, workers=2), draw(data, model, workers=2)
    for source, a, b in zip(data, first, second):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
        new = (a["label"][0, 0] > 0) & (source["label"][0] == 0)
        assert new.sum() > 100  # a lesion of 14-18 mm at 2 mm voxels
        changed = (a["image"][0] != source["image"][None]).any(dim=1)[0]
        assert changed[new].float().mean() > 0.9  # painted where the new label is
        old = source["label"][0] > 0
        assert torch.equal(a["label"][0, 0][old], source["label"][0][old])  # the existing tumour survives
        assert isinstance(a["image"], MetaTensor) and torch.allclose(a["image"].affine[0], source["image"].affine)
        assert a["image"].dtype == torch.float32 and a["label"].dtype == torch.uint8


def test_prob_zero_returns_the_sample_and_plain_arrays_are_1mm(healthy_case, model):
    data = sample(healthy_case)
    untouched = RandLesionSynthesisd(prob=0.0, model=model)(data)
    assert untouched["image"] is data["image"] and untouched["label"] is data["label"]
    plain = {"image": data["image"].numpy(), "label": data["label"].numpy()}
    painted = RandLesionSynthesisd(prob=1.0, model=model, diameter_range_mm=(20.0, 24.0))
    painted.set_random_state(seed=1)
    out = painted(plain)
    assert isinstance(out["image"], np.ndarray) and out["image"].shape == plain["image"].shape
    assert (out["label"] > 0).sum() > (plain["label"] > 0).sum()


def test_a_model_of_other_contrasts_is_refused(healthy_case, model):
    data = sample(healthy_case)
    data["image"] = data["image"][:2]
    with pytest.raises(ValueError, match="contrasts"):
        RandLesionSynthesisd(prob=1.0, model=model, contrasts=("t1", "flair"))(data)
