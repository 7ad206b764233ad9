"""Training data pipeline: sampler throughput, network speed and busy time, peak host memory.

Prints one JSON object (medians of ``--repeats`` runs):

- ``sampler_patches_per_s``: {workers: patches/s} drawn through ``batch_loader`` with 0..``--workers``
  loader workers and no network (the first batch, which starts the workers, is not timed);
- ``network_steps_per_s``: ``train_step`` on one fixed batch (the config's patch and batch size;
  ``--network default`` is the config's network, ``tiny`` a 8-16-32 U-Net);
- ``fed``: {workers: {"steps_per_s", "network_busy_fraction"}} training steps fed by the loader,
  and the fraction of their wall time spent inside ``train_step`` (1.0: the network never waits);
- ``peak_host_memory_mib``: {N cases: {"building", "cached"}} peak resident memory of a child
  process that caches N phantom cases (building the cache, then with the cache built) and draws
  ``--batches`` batches: its ``VmHWM`` (Linux; ``ru_maxrss`` of a child would start at the size of
  this process, which forked it).

Phantom cases are written at ``--resolution-mm`` (default 2 mm for speed; real data is 1 mm, 8x
the voxels). Settings: ``--config`` (default: the defaults, the shipped model's recipe) and ``--set``.

Run from the repository root with the package importable, e.g.
``python Testing/benchmarks/bench_training.py --workers 2 --repeats 3 --network tiny``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import SynthPathologyLib
from SynthPathologyLib.networks.pix2pix import ChannelLayout
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.phantom.dataset import write_phantom_dataset
from SynthPathologyLib.phantom.generator import PhantomOptions
from SynthPathologyLib.synthesis.synthesizer import resolve_device
from SynthPathologyLib.training.config import TrainConfig, load_config
from SynthPathologyLib.training.data import PatchSampler, batch_loader
from SynthPathologyLib.training.distributed import Distributed
from SynthPathologyLib.training.sources import cached_cases, split_cases
from SynthPathologyLib.training.step import build_models, train_step

TINY_NETWORK = "network={channels: [8, 16, 32], strides: [2, 2], discriminator_channels: 8}"


def sampler_of(data: Path, cache: Path, config: TrainConfig) -> PatchSampler:
    glioma = get_pathology(config.pathology)
    return PatchSampler(cached_cases(split_cases(data, 0)[0], glioma.contrasts, cache, progress=False), glioma, config)


def patches_per_s(sampler: PatchSampler, config: TrainConfig, workers: int, batches: int) -> float:
    loaded = iter(batch_loader(sampler, config.batch_size, range(batches + 1), workers))
    next(loaded)  # starts the workers
    start = time.perf_counter()
    for _ in loaded:
        pass
    return batches * config.batch_size / (time.perf_counter() - start)


def network_steps_per_s(sampler: PatchSampler, config: TrainConfig, device: torch.device, steps: int) -> float:
    models = new_models(config, device)
    batch = sampler.batch(0, config.batch_size)
    train_step(models, batch, config, device)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        train_step(models, batch, config, device)
    return steps / (time.perf_counter() - start)


def fed_training(sampler: PatchSampler, config: TrainConfig, device: torch.device, workers: int,
                 steps: int) -> dict[str, float]:
    """Steps/s and the network's share of the wall time when ``workers`` loader workers feed it."""
    models = new_models(config, device)
    loaded = iter(batch_loader(sampler, config.batch_size, range(steps + 1), workers, device.type == "cuda"))
    train_step(models, next(loaded), config, device)  # warm-up, starts the workers
    busy, start = 0.0, time.perf_counter()
    for batch in loaded:
        began = time.perf_counter()
        train_step(models, batch, config, device)  # returns floats: the device has finished
        busy += time.perf_counter() - began
    wall = time.perf_counter() - start
    return {"steps_per_s": steps / wall, "network_busy_fraction": busy / wall}


def new_models(config: TrainConfig, device: torch.device):
    glioma = get_pathology(config.pathology)
    return build_models(config, ChannelLayout(len(glioma.contrasts), len(glioma.label_values)), device, Distributed())


def peak_memory_mib(data: Path, cache: Path, config_args: list[str], batches: int) -> float:
    """Peak resident memory of a child process caching ``data`` into ``cache`` and drawing batches."""
    library = str(Path(SynthPathologyLib.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [library, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, __file__, "--child", str(data), str(cache), "--batches", str(batches),
                             *config_args], capture_output=True, text=True, check=True, env=env)
    return int(result.stdout.split()[-1]) / 1024


def memory_figures(data: Path, scratch: Path, config_args: list[str], batches: int, repeats: int) -> dict:
    """Median peak memory (MiB) building the cache of ``data`` (a new cache each run), then using it."""
    caches = [Path(tempfile.mkdtemp(dir=scratch)) for _ in range(repeats)]
    building = [peak_memory_mib(data, cache, config_args, batches) for cache in caches]
    cached = [peak_memory_mib(data, caches[0], config_args, batches) for _ in range(repeats)]
    return {"building": round(statistics.median(building), 1), "cached": round(statistics.median(cached), 1)}


def subset(dataset: Path, n: int, out: Path) -> Path:
    """A dataset of the first ``n`` cases of ``dataset`` (copies)."""
    for folder in split_cases(dataset, 0)[0][:n]:
        shutil.copytree(folder, out / folder.name)
    return out


def child(data: Path, cache: Path, config: TrainConfig, batches: int) -> None:
    sampler = sampler_of(data, cache, config)
    for step in range(batches):
        sampler.batch(step, config.batch_size)
    print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))  # KiB


def median(repeats: int, measure, *args) -> float:
    """Median of ``repeats`` runs of ``measure(*args)``."""
    return round(statistics.median(measure(*args) for _ in range(repeats)), 3)


def median_of_dicts(repeats: int, measure, *args) -> dict[str, float]:
    """Median of each figure of ``repeats`` runs of ``measure(*args)`` (a dict of figures)."""
    runs = [measure(*args) for _ in range(repeats)]
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="loader workers up to this many (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure, the median is reported (default 3)")
    parser.add_argument("--batches", type=int, default=8, help="timed batches / steps per run (default 8)")
    parser.add_argument("--network", choices=("default", "tiny"), default="default")
    parser.add_argument("--cases", type=int, nargs="+", default=[6, 18], help="phantom cases for peak memory")
    parser.add_argument("--resolution-mm", type=float, default=2.0)
    parser.add_argument("--config", type=Path, help="training settings YAML (default: the defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("DATA", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    config_args = [*(["--config", str(args.config)] if args.config else []), "--network", args.network,
                   *(f"--set={item}" for item in args.set)]
    config = load_config(args.config, [*([TINY_NETWORK] if args.network == "tiny" else []), *args.set])
    if args.child:
        child(*args.child, config, args.batches)
        return

    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write_phantom_dataset(root / "phantoms", max(args.cases), seed=0,
                              options=PhantomOptions(resolution_mm=args.resolution_mm), progress=False)
        data = {n: subset(root / "phantoms", n, root / f"phantoms-{n}") for n in args.cases}
        memory = {n: memory_figures(data[n], root, config_args, args.batches, args.repeats) for n in args.cases}
        sampler = sampler_of(data[min(args.cases)], root / "cache", config)
        result = {
            "device": str(device), "torch_threads": torch.get_num_threads(), "network": args.network,
            "precision": config.precision,
            "patch_size": list(config.patch_size), "batch_size": config.batch_size,
            "resolution_mm": args.resolution_mm, "repeats": args.repeats,
            "sampler_patches_per_s": {w: median(args.repeats, patches_per_s, sampler, config, w, args.batches)
                                      for w in range(args.workers + 1)},
            "network_steps_per_s": median(args.repeats, network_steps_per_s, sampler, config, device, args.batches),
            "fed": {w: median_of_dicts(args.repeats, fed_training, sampler, config, device, w, args.batches)
                    for w in sorted({0, args.workers})},
            "peak_host_memory_mib": memory,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
