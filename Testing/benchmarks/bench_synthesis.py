"""Synthesis latency of the shipped model on the default 1 mm brain, and one training step.

Prints one JSON object:
- ``synthesis_s_median``: end-to-end ``Synthesizer.synthesize`` on a prepared 4-contrast 1 mm
  brain with a 30 mm lesion (lesion shape, synthesis region, crop and normalize, network, blend,
  and ``assemble_s``: building the whole output images), median of ``--runs`` runs after a
  warm-up; ``split_s_median`` breaks it down;
  ``prepare_case_s`` is the once-per-brain preparation (mask, normalization, white matter);
- ``network_gflop`` (the trained generator's FLOPs over all windows of one synthesis),
  ``network_gflops_per_s`` achieved, the matmul ceiling in the inference precision
  (``inference_dtype``: bf16 where the hardware runs it fast, else float32; best of 3 large
  matmuls, measured just before each synthesis run) and ``network_fraction_of_ceiling``, the
  median of the per-run ratios; ``network_gflop_executed`` adds the zero taps that the generator's sub-pixel inference
  form multiplies; ``convolutions_only_fraction_of_ceiling`` is the same ratio for the network's
  convolution layers alone (each on the input it gets, weights in the inference precision,
  channels-last), as if its norms, activations and concatenations cost nothing (about the most the whole network can reach);
- ``inpaint_s_median``: ``Synthesizer.inpaint`` (healthy fill) of a 40 mm spherical mask (33 ml, about
  a BraTS 2023 inpainting mask) in the same brain, whole output images built, median of ``--runs``;
- ``train_step_s_median``: one discriminator + generator update at the model's training settings
  (its card's, else the defaults), patch and batch, in the inference precision.

    python Testing/benchmarks/bench_synthesis.py [--model DIR] [--device auto|cpu|cuda] [--runs 7]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from SynthPathologyLib.cli.synthesis import DEMO_SEED_RAS
from SynthPathologyLib.core.image_io import copy_geometry, ras_to_lps
from SynthPathologyLib.core.precision import fast_dtype
from SynthPathologyLib.lesions.spec import LesionSpec
from SynthPathologyLib.networks.pix2pix import network_layout
from SynthPathologyLib.phantom.generator import PhantomOptions, make_phantom_case
from SynthPathologyLib.synthesis.synthesizer import Synthesizer
from SynthPathologyLib.training.config import TrainConfig
from SynthPathologyLib.training.data import PatchBatch
from SynthPathologyLib.training.distributed import Distributed
from SynthPathologyLib.training.step import build_models, train_step


def matmul_ceiling_gflops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Best matmul throughput (GFLOP/s) in the inference precision over ``repeats`` runs."""
    a = torch.randn(size, size, device=device, dtype=fast_dtype(device))
    b = torch.randn(size, size, device=device, dtype=fast_dtype(device))
    return 2 * size**3 / best_seconds(lambda: torch.matmul(a, b), device, repeats) / 1e9


def best_seconds(run, device: torch.device, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``run`` (device work included)."""
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _gflop(run) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    return counter.get_total_flops() / 1e9


def network_gflop(synthesizer: Synthesizer, prepared, spec: LesionSpec) -> tuple[float, float, int]:
    """GFLOP of one synthesis (all generator windows), counted by PyTorch's FLOP counter: the
    trained generator's (the model FLOPs a utilization figure is measured in) and those executed by
    its sub-pixel inference form (which also multiplies the zero taps); and the window count."""
    executed = _gflop(lambda: synthesizer.synthesize(prepared, spec))
    channels = condition_channels(synthesizer)
    patch = torch.zeros(1, channels, *synthesizer.card.patch_size, device=synthesizer.device)
    with torch.inference_mode():
        per_window = _gflop(lambda: synthesizer.generator(patch))
        per_window_executed = _gflop(lambda: synthesizer.inference_generator(patch))
    windows = round(executed / per_window_executed)
    return per_window * windows, executed, windows


def convolution_layers(synthesizer: Synthesizer) -> list[tuple[torch.nn.Module, torch.Tensor]]:
    """The inference generator's convolutions, each with the input (1, C, D, H, W) it receives on
    one patch, in their fastest form here (weights in the inference precision, channels-last)."""
    dtype = fast_dtype(synthesizer.device)
    model = copy.deepcopy(synthesizer.inference_generator)
    model.to(dtype, memory_format=torch.channels_last_3d)
    channels = condition_channels(synthesizer)
    patch = torch.randn(1, channels, *synthesizer.card.patch_size, device=synthesizer.device, dtype=dtype)
    layers = []
    hooks = [module.register_forward_hook(lambda module, args, _: layers.append((module, args[0])))
             for module in model.modules() if isinstance(module, (torch.nn.Conv3d, torch.nn.ConvTranspose3d))]
    with torch.inference_mode():
        model(patch.contiguous(memory_format=torch.channels_last_3d))
    for hook in hooks:
        hook.remove()
    return layers


def convolutions_seconds(layers: list[tuple[torch.nn.Module, torch.Tensor]], device: torch.device,
                         repeats: int = 5) -> float:
    """Best time of running every layer on its input once."""
    with torch.inference_mode():
        return best_seconds(lambda: [layer(tensor) for layer, tensor in layers], device, repeats)


def condition_channels(synthesizer: Synthesizer) -> int:
    return network_layout(synthesizer.card.network_config(), synthesizer.card.layout()).condition_channels


def train_step_seconds(synthesizer: Synthesizer, runs: int) -> float:
    device = synthesizer.device
    settings = synthesizer.card.training.get("config")
    config = TrainConfig(**{k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__}) \
        if settings else TrainConfig()
    # A bf16 step on a CPU without bf16 kernels measures the fallback path, not training.
    config = dataclasses.replace(config, precision="bf16" if fast_dtype(device) == torch.bfloat16 else "fp32")
    layout = synthesizer.card.layout()
    models = build_models(config, layout, device, Distributed())
    shape = (config.batch_size, *config.patch_size)
    region = torch.zeros(shape[0], 1, *shape[1:])
    region[(..., *(slice(p // 4, 3 * p // 4) for p in config.patch_size))] = 1
    batch = PatchBatch(torch.randn(shape[0], condition_channels(synthesizer), *shape[1:]),
                       torch.randn(shape[0], layout.n_contrasts, *shape[1:]), region, region,
                       torch.ones(shape[0], layout.n_contrasts, 1, 1, 1), torch.randn(shape[0], 1, *shape[1:]) * region)
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        train_step(models, batch, config, device)
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def inpaint_seconds(synthesizer: Synthesizer, prepared, runs: int) -> float:
    """Median wall time of a healthy fill of a 40 mm sphere at the demo seed, output images built."""
    reference = prepared.case.reference
    center = reference.TransformPhysicalPointToContinuousIndex(ras_to_lps(DEMO_SEED_RAS))
    grid = np.indices(prepared.brain.shape, dtype=np.float32)
    distance = sum(((g - c) * s) ** 2 for g, c, s in zip(grid, center[::-1], reference.GetSpacing()[::-1]))
    mask = copy_geometry(((distance <= 20.0**2) & prepared.brain).astype(np.uint8), reference)
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        synthesizer.inpaint(prepared, mask).case
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    synthesizer = Synthesizer(args.model, device=args.device)
    brain = make_phantom_case(0, PhantomOptions(resolution_mm=1.0, healthy=True)).case
    start = time.perf_counter()
    prepared = synthesizer.prepare(brain, estimate_white_matter=True)
    prepare_s = time.perf_counter() - start
    spec = LesionSpec(center_lps=ras_to_lps(DEMO_SEED_RAS), diameters_mm=(30.0, 30.0, 30.0))
    synthesizer.synthesize(prepared, spec)  # warm-up
    gflop, executed_gflop, windows = network_gflop(synthesizer, prepared, spec)
    convolutions = convolution_layers(synthesizer)
    totals, splits, ceilings, convolution_fractions = [], [], [], []
    for _ in range(args.runs):
        # The ceiling is measured next to each run: this VM's speed swings 2x within minutes.
        ceilings.append(matmul_ceiling_gflops(synthesizer.device, repeats=3))
        convolutions_s = convolutions_seconds(convolutions, synthesizer.device)
        convolution_fractions.append(gflop / windows / convolutions_s / ceilings[-1])
        start = time.perf_counter()
        result = synthesizer.synthesize(prepared, spec)
        _sync(synthesizer.device)
        assembled = time.perf_counter()
        result.case  # the whole output images, as the command line writes them
        totals.append(time.perf_counter() - start)
        splits.append({**result.timings_s, "assemble_s": totals[-1] - (assembled - start)})
    split = {key: statistics.median(s[key] for s in splits) for key in splits[0]}
    achieved = [gflop / s["network_s"] for s in splits]
    fractions = [a / c for a, c in zip(achieved, ceilings)]
    print(json.dumps({
        "device": str(synthesizer.device),
        "threads": torch.get_num_threads(),
        "model_id": synthesizer.card.model_id,
        "patch_size": synthesizer.card.patch_size,
        "synthesis_s_median": round(statistics.median(totals), 4),
        "synthesis_s_runs": [round(t, 4) for t in totals],
        "split_s_median": {k: round(v, 4) for k, v in split.items()},
        "prepare_case_s": round(prepare_s, 3),
        "network_gflop": round(gflop, 2),
        "network_gflop_executed": round(executed_gflop, 2),
        "network_gflops_per_s": round(statistics.median(achieved), 1),
        "inference_dtype": str(fast_dtype(synthesizer.device)).removeprefix("torch."),
        "matmul_ceiling_gflops_per_s": round(statistics.median(ceilings), 1),
        "network_fraction_of_ceiling": round(statistics.median(fractions), 3),
        "network_fraction_of_ceiling_runs": [round(f, 3) for f in fractions],
        "convolutions_only_fraction_of_ceiling": round(statistics.median(convolution_fractions), 3),
        "inpaint_s_median": round(inpaint_seconds(synthesizer, prepared, args.runs), 3),
        "train_step_s_median": round(train_step_seconds(synthesizer, 3), 3),
    }, indent=2))


if __name__ == "__main__":
    main()
