"""Warm start: a new run's generator begins from a trained generator folder (``init_from``), also one
of another pathology with other label values.

Tensors of the same shape are copied whole. A tensor that reads the condition (its input-channel
axis, axis 1, differs because the pathologies have different numbers of label values) is copied
channel by channel by role: contrasts, availability, region and noise keep their source columns;
a label channel takes the column of the source region that ``init_regions`` names for it (by
default the region of the same name, e.g. "enhancing"), and keeps its fresh initialization when the
source has none. The generators read the condition either whole (the first convolution) or, behind
their own features, without its last (noise) channel (the resize-convolution U-Net's head). Those
tensors are found by their input channels following the number of labels (a generator of the
source's network with one more label, built without memory, differs there), so that they are
mapped by role also between pathologies with as many labels (glioma and metastasis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..core.errors import SynthPathologyError
from ..models.generator import load_model
from ..networks.pix2pix import ChannelLayout, build_generator, network_layout
from ..pathologies import Pathology, get_pathology


def condition_roles(contrasts: Sequence[str], pathology: Pathology, availability: bool) -> list[str]:
    """What each condition channel holds, in order (see :class:`~SynthPathologyLib.networks.pix2pix.ChannelLayout`)."""
    roles = [f"contrast:{c}" for c in contrasts]
    if availability:
        roles += [f"available:{c}" for c in contrasts]
    return roles + [f"label:{info.region}" for info in pathology.labels] + ["region", "noise"]


def warm_start(generator: torch.nn.Module, source_folder: str, pathology: Pathology,
               init_regions: Mapping[str, str] | None = None) -> int:
    """Copy the generator weights of the model folder ``source_folder`` into ``generator`` (a fresh
    generator of ``pathology`` with the same network settings); returns the number of tensors
    adapted channel by channel.

    Raises:
        SynthPathologyError: the source's network differs beyond its label channels, or a region
            named in ``init_regions`` is not the source's (a value) or this pathology's (a key).
    """
    source = load_model(source_folder)
    source_pathology = get_pathology(source.card.pathology)
    availability = network_layout(source.card.network_config(), source.card.layout()).availability
    source_roles = condition_roles(source.card.contrasts, source_pathology, availability)
    target_roles = condition_roles(pathology.contrasts, pathology, availability)
    mapping = {f"label:{k}": f"label:{v}" for k, v in (init_regions or {}).items()}
    unknown = sorted(set(mapping.values()) - set(source_roles))
    if unknown:
        raise SynthPathologyError(f"init_regions: {source_folder} has no {', '.join(unknown)} channel "
                                  f"(it has {', '.join(r for r in source_roles if r.startswith('label:'))})")
    foreign = sorted(set(mapping) - set(target_roles))
    if foreign:
        raise SynthPathologyError(f"init_regions: pathology {pathology.name!r} has no "
                                  f"{', '.join(r.partition(':')[2] for r in foreign)} region "
                                  f"(it has {', '.join(info.region for info in pathology.labels)})")
    wanted = {role: mapping.get(role, role) for role in target_roles}
    source_state = source.generator.state_dict()
    # Tensors that read the condition are copied whole only where every channel keeps its role.
    same_roles = [wanted[role] for role in target_roles] == source_roles
    readers = set() if same_roles else _condition_readers(source, source_state)
    state = generator.state_dict()
    adapted = 0
    for name, tensor in source_state.items():
        target = state.get(name)
        if target is None:
            raise SynthPathologyError(f"init_from {source_folder}: its generator has {name}, this one does not")
        if target.shape == tensor.shape and name not in readers:
            target.copy_(tensor)
            continue
        if target.dim() < 2 or target.shape[0] != tensor.shape[0] or target.shape[2:] != tensor.shape[2:]:
            raise SynthPathologyError(f"init_from {source_folder}: {name} is {tuple(tensor.shape)} there, "
                                      f"{tuple(target.shape)} here: another network")
        _copy_columns(target, tensor, source_roles, target_roles, wanted)
        adapted += 1
    generator.load_state_dict(state)
    return adapted


def _condition_readers(source, source_state: Mapping[str, torch.Tensor]) -> set[str]:
    """Names of the source generator's tensors that read the condition: those whose input channels
    change with the number of labels (compared with the same network for one more label, built on
    the meta device: no memory, no initialization cost)."""
    layout = source.card.layout()
    with torch.device("meta"):
        probe = build_generator(source.card.network_config(), ChannelLayout(layout.n_contrasts, layout.n_labels + 1))
    return {name for name, tensor in probe.state_dict().items()
            if name in source_state and tuple(tensor.shape) != tuple(source_state[name].shape)}


def _copy_columns(target: torch.Tensor, source: torch.Tensor, source_roles: list[str], target_roles: list[str],
                  wanted: Mapping[str, str]) -> None:
    """Copy ``source``'s input columns (axis 1) into ``target``'s by role: the whole condition, or
    features followed by the condition without its noise channel."""
    features = 0
    if source.shape[1] != len(source_roles):
        features, source_roles, target_roles = source.shape[1] - len(source_roles) + 1, source_roles[:-1], target_roles[:-1]
    if target.shape[1] != features + len(target_roles):
        raise SynthPathologyError(f"cannot match {tuple(source.shape)} to {tuple(target.shape)} by channel role")
    target[:, :features] = source[:, :features]
    for column, role in enumerate(target_roles):
        if wanted[role] in source_roles:
            target[:, features + column] = source[:, features + source_roles.index(wanted[role])]
