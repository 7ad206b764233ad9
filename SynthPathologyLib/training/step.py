"""The models of a Pix2Pix training run (generator, discriminator, their EMA and optimizers) and
one training step: a discriminator update, then a generator update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from ..networks.losses import adversarial_loss, band_loss, feature_matching_loss, lesion_weighted_l1, mode_seeking_loss
from ..networks.pix2pix import ChannelLayout, build_discriminator, build_generator
from .config import TrainConfig
from .data import PatchBatch
from .distributed import Distributed, unwrap

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


@dataclass
class Models:
    """What a run trains; ``generator`` and ``discriminator`` are DDP-wrapped in a multi-process run."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module
    ema: AveragedModel
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler

    def state(self, step: int, config: TrainConfig) -> dict[str, Any]:
        """Checkpoint state: tensors and plain data only (see :mod:`SynthPathologyLib.models.checkpoints`)."""
        return {
            "step": step, "config": config.to_dict(),
            "generator": unwrap(self.generator).state_dict(),
            "discriminator": unwrap(self.discriminator).state_dict(),
            "ema": self.ema.state_dict(), "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(), "scaler": self.scaler.state_dict(),
        }

    def load(self, state: dict[str, Any]) -> int:
        """Restore :meth:`state`'s output; returns its step."""
        unwrap(self.generator).load_state_dict(state["generator"])
        unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        return int(state["step"])


def _ema_update(decay: float):
    """EMA step with warm-up: the decay grows as (1 + n) / (10 + n) up to ``decay``, so a short
    run's EMA is not stuck near the initial weights."""

    def update(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        rate = min(decay, (1.0 + float(num_averaged)) / (10.0 + float(num_averaged)))
        return rate * averaged + (1.0 - rate) * current

    return update


def build_models(config: TrainConfig, layout: ChannelLayout, device: torch.device, ddp: Distributed) -> Models:
    """Fresh models and optimizers on ``device`` from ``config``, DDP-wrapped when ``ddp`` has several processes."""
    torch.manual_seed(config.seed)  # identical initial weights on every rank and every run
    generator = build_generator(config.network, layout).to(device)
    discriminator = build_discriminator(config.network, layout).to(device)
    ema = AveragedModel(generator, avg_fn=_ema_update(config.ema_decay), use_buffers=True)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_discriminator, betas=config.betas)
    if ddp.world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        generator = DistributedDataParallel(generator, device_ids=ids)
        discriminator = DistributedDataParallel(discriminator, device_ids=ids)
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    return Models(generator, discriminator, ema, opt_g, opt_d, scaler)


def train_step(models: Models, batch: PatchBatch, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """One discriminator and one generator update; returns the losses (``loss_band``,
    ``loss_diversity`` and ``loss_feature_matching`` when their weights are set)."""
    condition, target = batch.condition.to(device), batch.target.to(device)
    region, lesion, available = batch.region.to(device), batch.lesion.to(device), batch.available.to(device)
    adversarial = adversarial_loss(config.adversarial)
    dtype = PRECISIONS[config.precision]
    diversity = config.diversity_weight > 0
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        if diversity:  # the same conditions with a second noise draw, in one pass
            other_noise = batch.other_noise.to(device)
            fakes = models.generator(torch.cat([condition, torch.cat([condition[:, :-1], other_noise], 1)])).float()
            fake, other_fake = fakes.chunk(2)
        else:
            fake = models.generator(condition).float()
        # The discriminator judges the composite: only the region comes from the generator, as
        # at inference; contrasts a sample lacks are zero for both.
        real = target * available
        composite = (region * fake + (1 - region) * target) * available
        both = torch.cat([torch.cat([condition, real], 1), torch.cat([condition, composite.detach()], 1)])
        outputs = models.discriminator(both)
        real_logits, fake_logits = outputs[-1].float().chunk(2)
        real_features = [features.chunk(2)[0].detach() for features in outputs]
        loss_d = 0.5 * (adversarial(real_logits, target_is_real=True, for_discriminator=True)
                        + adversarial(fake_logits, target_is_real=False, for_discriminator=True))
    models.opt_d.zero_grad(set_to_none=True)
    models.scaler.scale(loss_d).backward()
    models.scaler.step(models.opt_d)

    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        outputs = models.discriminator(torch.cat([condition, composite], 1))
        loss_adv = adversarial(outputs[-1].float(), target_is_real=True, for_discriminator=False)
    loss_l1 = lesion_weighted_l1(fake, target, region, lesion, config.lesion_l1_weight, available)
    losses = {"loss_d": loss_d, "loss_g_adv": loss_adv, "loss_l1": loss_l1}
    loss_g = config.adversarial_weight * loss_adv + config.l1_weight * loss_l1
    if config.band_weight > 0:
        losses["loss_band"] = band_loss(fake, target, region, lesion, available)
        loss_g = loss_g + config.band_weight * losses["loss_band"]
    if diversity:
        losses["loss_diversity"] = mode_seeking_loss(fake, other_fake, condition[:, -1:], other_noise, region,
                                                     config.diversity_target)
        loss_g = loss_g + config.diversity_weight * losses["loss_diversity"]
    if config.feature_matching_weight > 0:
        losses["loss_feature_matching"] = feature_matching_loss(outputs, real_features)
        loss_g = loss_g + config.feature_matching_weight * losses["loss_feature_matching"]
    models.opt_g.zero_grad(set_to_none=True)
    models.scaler.scale(loss_g).backward()
    models.scaler.step(models.opt_g)
    models.scaler.update()
    models.ema.update_parameters(unwrap(models.generator))
    losses["loss_g"] = loss_g
    return {key: float(value.detach()) for key, value in losses.items()}
