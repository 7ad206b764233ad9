"""This process's place in a training run: one process, or one of several started by ``torchrun``
(DDP: NCCL on CUDA, gloo on CPU), and reproducible CUDA kernels."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..synthesis.synthesizer import resolve_device


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


def close_distributed(ddp: Distributed) -> None:
    """Leave the process group joined by :func:`init_distributed`, if any."""
    if ddp.world_size > 1:
        dist.destroy_process_group()


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module itself, without its DDP wrapper."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def use_deterministic_cuda_kernels() -> None:
    """Make this process's CUDA work reproducible: cuDNN and cuBLAS in their deterministic modes
    (process-wide; a training process trains one run). Ops without a deterministic kernel warn."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
