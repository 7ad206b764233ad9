"""Train the 3D Pix2Pix lesion generator.

Same code, three ways to run it; each exits with a status (0 done, 2 user error, 130 interrupted):

    python -m SynthPathologyLib.training.loop --data DIR --out RUN [--config CFG.yaml] [--set key=value ...]
    Slicer --no-main-window --python-script SynthPathologyLib/train.py --data DIR --out RUN [...]
    torchrun --nproc-per-node N -m SynthPathologyLib.training.loop --data DIR --out RUN [...]   (DDP)

A run folder holds ``config.yaml``, ``losses.jsonl`` (one line per step), ``checkpoints/last.pt``
(every ``checkpoint_every`` steps and on Ctrl-C), ``model/`` (EMA generator + model card, ready
for :class:`~SynthPathologyLib.synthesis.synthesizer.Synthesizer`) and ``tensorboard/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from .. import __version__
from ..core.errors import SynthPathologyError
from ..io.brats import read_brats_case
from ..models.generator import LoadedModel, ModelCard, load_checkpoint, save_checkpoint, save_model
from ..networks.losses import adversarial_loss, lesion_weighted_l1
from ..networks.pix2pix import ChannelLayout, build_discriminator, build_generator
from ..pathologies import get_pathology
from ..synthesis.synthesizer import Synthesizer, resolve_device
from .config import TrainConfig, load_config, save_config
from .data import PatchBatch, PatchSampler, cached_cases, split_cases
from .validation import evaluate_cases, validation_grid

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


@dataclass
class Distributed:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[Distributed, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(), resolve_device(device_name)
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), world_size), device


@dataclass
class Models:
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    ema: AveragedModel
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler

    def state(self, step: int, config: TrainConfig) -> dict[str, Any]:
        return {
            "step": step, "config": config.to_dict(),
            "generator": _unwrap(self.generator).state_dict(),
            "discriminator": _unwrap(self.discriminator).state_dict(),
            "ema": self.ema.state_dict(), "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(), "scaler": self.scaler.state_dict(),
        }

    def load(self, state: dict[str, Any]) -> int:
        _unwrap(self.generator).load_state_dict(state["generator"])
        _unwrap(self.discriminator).load_state_dict(state["discriminator"])
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


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def build_models(config: TrainConfig, layout: ChannelLayout, device: torch.device, ddp: Distributed) -> Models:
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
    """One discriminator and one generator update; returns the losses."""
    condition, target = batch.condition.to(device), batch.target.to(device)
    region, lesion = batch.region.to(device), batch.lesion.to(device)
    adversarial = adversarial_loss(config.adversarial)
    dtype = PRECISIONS[config.precision]
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        fake = models.generator(condition).float()
        # The discriminator judges the composite: only the region comes from the generator, as
        # at inference.
        composite = region * fake + (1 - region) * target
        both = torch.cat([torch.cat([condition, target], 1), torch.cat([condition, composite.detach()], 1)])
        logits = models.discriminator(both)[-1].float()
        real_logits, fake_logits = logits.chunk(2)
        loss_d = 0.5 * (adversarial(real_logits, target_is_real=True, for_discriminator=True)
                        + adversarial(fake_logits, target_is_real=False, for_discriminator=True))
    models.opt_d.zero_grad(set_to_none=True)
    models.scaler.scale(loss_d).backward()
    models.scaler.step(models.opt_d)

    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        logits = models.discriminator(torch.cat([condition, composite], 1))[-1].float()
        loss_adv = adversarial(logits, target_is_real=True, for_discriminator=False)
    loss_l1 = lesion_weighted_l1(fake, target, region, lesion, config.lesion_l1_weight)
    loss_g = config.adversarial_weight * loss_adv + config.l1_weight * loss_l1
    models.opt_g.zero_grad(set_to_none=True)
    models.scaler.scale(loss_g).backward()
    models.scaler.step(models.opt_g)
    models.scaler.update()
    models.ema.update_parameters(_unwrap(models.generator))
    losses = {"loss_d": loss_d, "loss_g_adv": loss_adv, "loss_l1": loss_l1, "loss_g": loss_g}
    return {key: float(value.detach()) for key, value in losses.items()}


def model_card(config: TrainConfig, spacing: tuple[float, ...], data: Path, metrics: dict, wall_s: float,
               step: int, device: torch.device, ddp: Distributed, model_id: str) -> ModelCard:
    pathology = get_pathology(config.pathology)
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return ModelCard(
        model_id=model_id, pathology=config.pathology, contrasts=list(pathology.contrasts),
        patch_size=list(config.patch_size), spacing_mm=[float(s) for s in spacing], margin_mm=config.margin_mm,
        network=config.to_dict()["network"],
        training={"data": str(data), "command": " ".join(sys.argv), "steps": step, "wall_time_s": round(wall_s, 1),
                  "hardware": f"{ddp.world_size} x {hardware}", "library_version": __version__,
                  "config": config.to_dict()},
        metrics=metrics,
    )


def use_deterministic_cuda_kernels() -> None:
    """Make this process's CUDA work reproducible: cuDNN and cuBLAS in their deterministic modes
    (process-wide; a training process trains one run). Ops without a deterministic kernel warn."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def train(config: TrainConfig, data: Path, out: Path, *, resume: bool = False, device_name: str = "auto",
          model_id: str = "pix2pix", progress: bool = True) -> dict[str, Any]:
    """Train and export the model; returns the last losses and validation metrics.

    Raises SynthPathologyError for an empty dataset, cases without labels or contrasts, a run
    folder that already holds a run (without ``resume``) and running out of memory.
    """
    ddp, device = init_distributed(device_name)
    if device.type == "cuda" and config.deterministic:
        use_deterministic_cuda_kernels()
    pathology = get_pathology(config.pathology)
    checkpoint_path = out / "checkpoints" / "last.pt"
    if checkpoint_path.exists() and not resume:
        raise SynthPathologyError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    train_folders, val_folders = split_cases(data, config.validation_cases)
    cases = cached_cases(train_folders, pathology.contrasts, progress=progress and ddp.is_main)
    spacing = cases[0]["spacing"]
    sampler = PatchSampler(cases, pathology, config.patch_size, config.margin_mm, config.healthy_fraction,
                           config.seed, ddp.rank)
    layout = ChannelLayout(len(pathology.contrasts), len(pathology.label_values))
    models = build_models(config, layout, device, ddp)
    start = models.load(load_checkpoint(checkpoint_path)) if resume and checkpoint_path.exists() else 0
    if ddp.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / "config.yaml")
    writer = _summary_writer(out) if ddp.is_main else None
    val_cases = [read_brats_case(f, require_label=True) for f in val_folders] if ddp.is_main else []
    metrics: dict[str, float] = {}
    losses: dict[str, float] = {}
    began = time.perf_counter()
    step = start
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, desc="training", unit="step",
               disable=not (progress and ddp.is_main))

    def export() -> None:
        card = model_card(config, spacing, data, metrics, time.perf_counter() - began, step, device, ddp, model_id)
        save_checkpoint(checkpoint_path, models.state(step, config))
        save_model(out / "model", models.ema.module, card)

    try:
        for step in bar:
            losses = _run_step(models, sampler.batch(step, config.batch_size), config, device)
            step += 1
            if not ddp.is_main:
                continue
            _log_losses(out, writer, step, losses)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if val_cases and (step % config.validate_every == 0 or step == config.steps):
                metrics, grid = _validate(models, config, spacing, val_cases, device)
                if writer is not None:
                    for key, value in metrics.items():
                        writer.add_scalar(f"validation/{key}", value, step)
                    writer.add_image("validation/real_synthetic_label", grid, step)
            if step % config.checkpoint_every == 0 or step == config.steps:
                export()
    except KeyboardInterrupt:
        if ddp.is_main:
            export()
            print(f"interrupted at step {step}; checkpoint saved, continue with --resume", file=sys.stderr)
        raise
    finally:
        if writer is not None:
            writer.close()
        if ddp.world_size > 1:
            dist.destroy_process_group()
    return {"step": step, "losses": losses, "metrics": metrics}


def _run_step(models: Models, batch: PatchBatch, config: TrainConfig, device: torch.device) -> dict[str, float]:
    try:
        losses = train_step(models, batch, config, device)
    except torch.OutOfMemoryError:
        raise SynthPathologyError(
            f"out of memory with batch_size {config.batch_size} and patch_size {config.patch_size}; "
            "try --set batch_size=1 or a smaller --set patch_size=[48,48,48]"
        ) from None
    if not all(math.isfinite(v) for v in losses.values()):
        raise SynthPathologyError(
            f"training diverged (non-finite loss {losses}); the last checkpoint is intact: lower the learning "
            "rates or use --set precision=fp32, then --resume"
        )
    return losses


def _validate(models: Models, config: TrainConfig, spacing, val_cases, device) -> tuple[dict[str, float], np.ndarray]:
    """Validation metrics of the EMA generator and an image grid (3, H, W) of the first case."""
    card = model_card(config, spacing, Path("."), {}, 0.0, 0, device, Distributed(), "validation")
    generator = models.ema.module.eval()
    try:
        synthesizer = Synthesizer(LoadedModel(generator, card, "training", Path(".")), str(device))
        metrics, results = evaluate_cases(synthesizer, val_cases)
        return metrics, validation_grid(val_cases[0], results[0], list(card.contrasts))
    finally:
        _unwrap(models.generator).train()


def _log_losses(out: Path, writer, step: int, losses: dict[str, float]) -> None:
    with open(out / "losses.jsonl", "a", encoding="utf-8") as stream:
        stream.write(json.dumps({"step": step, **losses}) + "\n")
    if writer is not None:
        for key, value in losses.items():
            writer.add_scalar(f"train/{key}", value, step)


def _summary_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)", file=sys.stderr)
        return None
    return SummaryWriter(str(out / "tensorboard"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m SynthPathologyLib.training.loop", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="BraTS-layout dataset folder (cases with labels)")
    parser.add_argument("--out", required=True, type=Path, help="run folder")
    parser.add_argument("--config", type=Path, help="YAML file of training settings")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set steps=500 --set network.channels=[8,16,32,64]")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    parser.add_argument("--model-id", default="pix2pix", help="name written into the model card")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs stay)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        saved = args.out / "config.yaml"
        config = load_config(saved if args.resume and saved.exists() else args.config, args.set)
        summary = train(config, args.data, args.out, resume=args.resume, device_name=args.device,
                        model_id=args.model_id, progress=not args.no_progress)
    except SynthPathologyError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
