"""Mixed precision where the hardware runs it fast."""

from __future__ import annotations

import torch


def fast_dtype(device: torch.device) -> torch.dtype:
    """bf16 where it speeds networks up on ``device``, else float32: bf16 always on CUDA; on a CPU
    only when oneDNN has bf16 kernels for it (AVX-512 bf16 or AMX). Without them (an AVX2-only host)
    a bf16 3D convolution falls back to a reference path: the glioma generator took 35 s instead of
    0.40 s for a 64³ crop on such a host."""
    fast = device.type == "cuda" or (device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))
    return torch.bfloat16 if fast else torch.float32


def fast_autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on ``device`` where :func:`fast_dtype` is bf16, else a disabled one (float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast_dtype(device) == torch.bfloat16)
