"""The training loop of the 3D Pix2Pix lesion generator: ``synthpathology train`` (see
:mod:`SynthPathologyLib.cli.training`) runs :func:`train`, in one process or in several started by
``torchrun`` (DDP).

A run folder holds ``config.yaml``, ``losses.jsonl`` (one line per step), ``checkpoints/last.pt``
(every ``checkpoint_every`` steps and on Ctrl-C), ``model/`` (EMA generator + model card, ready
for :class:`~SynthPathologyLib.synthesis.synthesizer.Synthesizer`), ``tensorboard/`` and ``cache/`` (the
normalized cases, built once: :mod:`.case_cache`).
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from ..core.errors import SynthPathologyError
from ..models.card import save_model
from ..models.checkpoints import load_checkpoint, save_checkpoint
from ..models.generator import LoadedModel, ModelCard
from ..networks.pix2pix import ChannelLayout
from ..pathologies import get_pathology
from ..synthesis.synthesizer import Synthesizer
from .config import TrainConfig, save_config
from .data import PatchBatch, PatchSampler, batch_loader
from .distributed import Distributed, close_distributed, init_distributed, unwrap, use_deterministic_cuda_kernels
from .sources import cached_cases, real_case_folders, split_cases
from .step import Models, build_models, train_step
from .validation import evaluate_cases, read_held_out_cases, validation_grid
from .warm_start import warm_start


def model_card(config: TrainConfig, spacing: tuple[float, ...], data: Path, command: str, metrics: dict,
               wall_s: float, step: int, device: torch.device, ddp: Distributed, model_id: str) -> ModelCard:
    """The card of the generator trained so far: ``spacing`` (x, y, z) in mm of the training data,
    ``wall_s`` seconds of training up to ``step``."""
    pathology = get_pathology(config.pathology)
    cpu = f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu
    return ModelCard(
        model_id=model_id, pathology=config.pathology, contrasts=list(pathology.contrasts),
        patch_size=list(config.patch_size), spacing_mm=[float(s) for s in spacing], margin_mm=config.margin_mm,
        network=config.to_dict()["network"],
        training={"data": str(data), "command": command, "steps": step, "wall_time_s": round(wall_s, 1),
                  "hardware": f"{ddp.world_size} x {hardware}", "library_version": __version__,
                  "config": config.to_dict()},
        metrics=metrics,
    )


def train(config: TrainConfig, data: Path, out: Path, *, resume: bool = False, device_name: str = "auto",
          model_id: str = "pix2pix", progress: bool = True, command: str | None = None) -> dict[str, Any]:
    """Train and export the model; returns the last losses and validation metrics. ``command`` is
    the command line the model card records (default: this process's).

    Raises SynthPathologyError for an empty dataset, cases without labels or contrasts, a held-out
    case that cannot be validated (before the first step), a run folder that already holds a run
    (without ``resume``) and running out of memory.
    """
    command = " ".join(sys.argv) if command is None else command
    ddp, device = init_distributed(device_name)
    if device.type == "cuda" and config.deterministic:
        use_deterministic_cuda_kernels()
    pathology = get_pathology(config.pathology)
    checkpoint_path = out / "checkpoints" / "last.pt"
    if checkpoint_path.exists() and not resume:
        raise SynthPathologyError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    train_folders, val_folders = split_cases(data, config.validation_cases, config.exclude_cases)
    val_cases = read_held_out_cases(val_folders, pathology.contrasts, config.patch_size,
                                    config.healthy_radius_mm) if ddp.is_main else []
    cases = cached_cases(train_folders, pathology.contrasts, out / "cache", progress=progress and ddp.is_main)
    real_cases = cached_cases(real_case_folders(config.real_data, config.exclude_cases), pathology.contrasts,
                              out / "cache", progress=progress and ddp.is_main,
                              require_label=False) if config.real_data else None
    spacing = cases[0].spacing
    sampler = PatchSampler(cases, pathology, config, ddp.rank, real_cases)
    layout = ChannelLayout(len(pathology.contrasts), len(pathology.label_values))
    models = build_models(config, layout, device, ddp)
    start = models.load(load_checkpoint(checkpoint_path)) if resume and checkpoint_path.exists() else 0
    if start == 0 and config.init_from:
        warm_start(unwrap(models.generator), config.init_from, pathology, config.init_regions)
        models.ema.module.load_state_dict(unwrap(models.generator).state_dict())
    batches = batch_loader(sampler, config.batch_size, range(start, config.steps), config.loader_workers,
                           pin_memory=device.type == "cuda")
    if ddp.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / "config.yaml")
    writer = _summary_writer(out) if ddp.is_main else None
    metrics: dict[str, float] = {}
    losses: dict[str, float] = {}
    began = time.perf_counter()
    step = start
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, desc="training", unit="step",
               disable=not (progress and ddp.is_main))

    def export() -> None:
        card = model_card(config, spacing, data, command, metrics, time.perf_counter() - began, step, device, ddp,
                          model_id)
        save_checkpoint(checkpoint_path, models.state(step, config))
        save_model(out / "model", models.ema.module, card)

    try:
        for step, batch in zip(bar, batches):
            losses = _run_step(models, batch, config, device)
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
        close_distributed(ddp)
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
    card = model_card(config, spacing, Path("."), "", {}, 0.0, 0, device, Distributed(), "validation")
    generator = models.ema.module.eval()
    try:
        synthesizer = Synthesizer(LoadedModel(generator, card, "training", Path(".")), str(device))
        metrics, results = evaluate_cases(synthesizer, val_cases)
        return metrics, validation_grid(val_cases[0].case, results[0], list(card.contrasts))
    finally:
        unwrap(models.generator).train()


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
