"""Warm start (``init_from``, ``init_regions``): a new run's generator begins from a trained
generator folder, also one of another pathology, the label channels mapped by region; and the
training config's ``init_regions`` setting."""

from __future__ import annotations

import pytest
import torch
from helpers.models import TINY, save_tiny_model

from SynthPathologyLib.core.errors import SynthPathologyError
from SynthPathologyLib.models.card import save_model
from SynthPathologyLib.models.generator import ModelCard, load_model
from SynthPathologyLib.networks.pix2pix import ChannelLayout, NetworkConfig, build_generator
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.training.config import load_config
from SynthPathologyLib.training.warm_start import warm_start

CONTRASTS = ["t1", "t1c", "t2", "flair"]
RESIZE = NetworkConfig(channels=(4, 8, 16), strides=(2, 2), architecture="resize_unet")


def condition(pathology: str, availability: bool = False) -> list[str]:
    """The generator's condition channels in order (see ChannelLayout): contrasts, availability
    (v2), one per label region, region mask, noise."""
    regions = [label.region for label in get_pathology(pathology).labels]
    return (CONTRASTS + ([f"available:{c}" for c in CONTRASTS] if availability else [])
            + [f"label:{r}" for r in regions] + ["region", "noise"])


def fresh(pathology: str, config: NetworkConfig = TINY, seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_generator(config, ChannelLayout(len(CONTRASTS), len(get_pathology(pathology).label_values)))


def save_resize_model(folder, pathology: str = "glioma"):
    card = ModelCard(model_id="tiny-v2", pathology=pathology, contrasts=CONTRASTS, patch_size=[32, 32, 32],
                     spacing_mm=[2.0, 2.0, 2.0], margin_mm=4.0, network=RESIZE.to_dict())
    return save_model(folder, fresh(pathology, RESIZE, seed=0), card)


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def expected_columns(source: torch.Tensor, before: torch.Tensor, source_roles: list[str], target_roles: list[str],
                     features: int, mapping: dict[str, str]) -> torch.Tensor:
    """The target's input columns after a warm start: features copied, each condition channel from
    the source channel of the role ``mapping`` names (default: its own), else the fresh one."""
    expected = before.clone()
    expected[:, :features] = source[:, :features]
    for column, role in enumerate(target_roles):
        wanted = mapping.get(role, role)
        if wanted in source_roles:
            expected[:, features + column] = source[:, features + source_roles.index(wanted)]
    return expected


@pytest.fixture(scope="module")
def glioma_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "glioma")


def test_ms_generator_starts_from_a_glioma_one_with_lesion_from_edema(glioma_model):
    source = state(load_model(glioma_model).generator)
    generator = fresh("ms")
    before = state(generator)
    adapted = warm_start(generator, str(glioma_model), get_pathology("ms"), {"lesion": "edema"})
    after = state(generator)
    assert after.keys() == source.keys()
    differing = [name for name in source if source[name].shape != after[name].shape]
    assert adapted == len(differing) == 1  # only the first convolution reads the condition
    for name in source:
        if name not in differing:
            assert torch.equal(after[name], source[name]), name
    first = differing[0]
    source_roles, target_roles = condition("glioma"), condition("ms")
    assert source[first].shape[1] == len(source_roles) and after[first].shape[1] == len(target_roles)
    weight, origin = after[first], source[first]
    assert torch.equal(weight[:, :4], origin[:, :4])  # contrasts
    assert torch.equal(weight[:, target_roles.index("label:lesion")], origin[:, source_roles.index("label:edema")])
    assert torch.equal(weight[:, target_roles.index("label:enhancing")],
                       origin[:, source_roles.index("label:enhancing")])
    assert torch.equal(weight[:, -2:], origin[:, -2:])  # region and noise
    assert not torch.equal(weight, before[first])


def test_without_init_regions_a_region_the_source_lacks_keeps_its_fresh_weights(glioma_model):
    source = state(load_model(glioma_model).generator)
    generator = fresh("ms")
    before = state(generator)
    warm_start(generator, str(glioma_model), get_pathology("ms"))
    after = state(generator)
    name = next(n for n in source if source[n].shape != after[n].shape)
    lesion, enhancing = condition("ms").index("label:lesion"), condition("ms").index("label:enhancing")
    assert torch.equal(after[name][:, lesion], before[name][:, lesion])
    assert torch.equal(after[name][:, enhancing], source[name][:, condition("glioma").index("label:enhancing")])


def test_the_warm_started_generator_runs_and_trains(glioma_model):
    generator = fresh("ms")
    warm_start(generator, str(glioma_model), get_pathology("ms"), {"lesion": "edema"})
    output = generator(torch.randn(1, len(condition("ms")), 16, 16, 16))
    assert output.shape == (1, 4, 16, 16, 16)
    output.mean().backward()
    assert all(p.grad is not None for p in generator.parameters() if p.requires_grad)


def test_a_v2_generator_maps_its_first_convolution_and_its_head(tmp_path):
    folder = save_resize_model(tmp_path / "glioma-v2")
    source = state(load_model(folder).generator)
    generator = fresh("ms", RESIZE)
    before = state(generator)
    mapping = {"label:lesion": "label:edema"}
    adapted = warm_start(generator, str(folder), get_pathology("ms"), {"lesion": "edema"})
    after = state(generator)
    differing = sorted(n for n in source if source[n].shape != after[n].shape)
    assert adapted == len(differing) == 2
    source_roles, target_roles = condition("glioma", True), condition("ms", True)
    for name in source:
        if name not in differing:
            assert torch.equal(after[name], source[name]), name
            continue
        if source[name].shape[1] == len(source_roles):  # the whole condition
            expected = expected_columns(source[name], before[name], source_roles, target_roles, 0, mapping)
        else:  # features, then the condition without its noise channel
            features = source[name].shape[1] - len(source_roles) + 1
            assert features == RESIZE.channels[0]
            expected = expected_columns(source[name], before[name], source_roles[:-1], target_roles[:-1],
                                        features, mapping)
        assert torch.equal(after[name], expected), name


def test_the_same_pathology_copies_every_tensor(glioma_model):
    source = state(load_model(glioma_model).generator)
    generator = fresh("glioma")
    assert warm_start(generator, str(glioma_model), get_pathology("glioma")) == 0
    after = state(generator)
    assert all(torch.equal(after[name], source[name]) for name in source)


@pytest.mark.parametrize("regions", [{"lesion": "tumour"}, {"enhancing": "lesion"}])
def test_a_region_the_source_lacks_is_refused_in_one_line(glioma_model, regions):
    generator = fresh("ms")
    before = state(generator)
    with pytest.raises(SynthPathologyError) as error:
        warm_start(generator, str(glioma_model), get_pathology("ms"), regions)
    message = str(error.value)
    assert "\n" not in message
    assert next(iter(regions.values())) in message  # it names the missing region
    assert "edema" in message  # it names what the source has
    after = state(generator)
    assert all(torch.equal(after[name], before[name]) for name in before)  # left untouched


def test_init_regions_naming_a_region_this_pathology_lacks_is_refused(glioma_model):
    # A misspelt target region would otherwise leave that channel untrained without a word.
    with pytest.raises(SynthPathologyError, match="lesions"):
        warm_start(fresh("ms"), str(glioma_model), get_pathology("ms"), {"lesions": "edema"})


def test_init_regions_apply_between_pathologies_with_as_many_labels(glioma_model):
    # Metastasis and glioma both have three labels: the first convolution has the same shape, yet
    # the mapping still decides which source channel each label channel starts from.
    source = state(load_model(glioma_model).generator)
    generator = fresh("metastasis")
    warm_start(generator, str(glioma_model), get_pathology("metastasis"), {"necrosis": "edema"})
    after = state(generator)
    roles = condition("metastasis")
    assert roles == condition("glioma")
    first = next(n for n in source if source[n].dim() > 1 and source[n].shape[1] == len(roles))
    assert torch.equal(after[first][:, roles.index("label:necrosis")], source[first][:, roles.index("label:edema")])
    assert torch.equal(after[first][:, roles.index("label:edema")], source[first][:, roles.index("label:edema")])
    assert torch.equal(after[first][:, roles.index("label:enhancing")],
                       source[first][:, roles.index("label:enhancing")])
    for name in source:
        if name != first:
            assert torch.equal(after[name], source[name]), name


def test_another_network_is_refused(glioma_model):
    other = NetworkConfig(channels=(8, 16, 32), strides=(2, 2))
    with pytest.raises(SynthPathologyError, match="another network"):
        warm_start(fresh("ms", other), str(glioma_model), get_pathology("ms"), {"lesion": "edema"})


def test_config_accepts_init_regions_as_a_mapping(tmp_path):
    path = tmp_path / "ms.yaml"
    path.write_text("pathology: ms\ninit_from: Resources/Models/glioma_real_v3\n"
                    "init_regions: {lesion: edema, enhancing: enhancing}\n", encoding="utf-8")
    config = load_config(path)
    assert config.init_from == "Resources/Models/glioma_real_v3"
    assert config.init_regions == {"lesion": "edema", "enhancing": "enhancing"}
    assert config.to_dict()["init_regions"] == {"lesion": "edema", "enhancing": "enhancing"}
    assert load_config(None, ["init_regions.lesion=edema"]).init_regions == {"lesion": "edema"}
    assert load_config(None).init_regions == {} and load_config(None).init_from == ""


@pytest.mark.parametrize("overrides", [["init_regions=[lesion, edema]"], ["init_regions=edema"]])
def test_config_refuses_init_regions_that_are_not_a_mapping(overrides):
    with pytest.raises(SynthPathologyError) as error:
        load_config(None, overrides)
    assert "init_regions" in str(error.value) and "\n" not in str(error.value)
