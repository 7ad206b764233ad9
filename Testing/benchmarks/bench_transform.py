"""Time per sample of the on-the-fly lesion transform (``RandLesionSynthesisd``, prob 1) on a
healthy default-brain phantom, with the shipped model on the CPU.

Prints one JSON object: the median, minimum and maximum seconds per sample over ``--runs``
samples (a warm-up sample first, which also loads the model), at each ``--resolution``.

    python Testing/benchmarks/bench_transform.py --runs 5 --resolution 2 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
from monai.data import MetaTensor

from SynthPathologyLib.phantom.generator import PhantomOptions, make_phantom_case
from SynthPathologyLib.transforms import RandLesionSynthesisd, from_sitk, ras_affine

CONTRASTS = ("t1", "t1c", "t2", "flair")


def phantom_sample(resolution_mm: float) -> dict:
    """A healthy phantom as a MONAI sample: image (4, i, j, k) float32 and label (1, i, j, k)."""
    case = make_phantom_case(0, PhantomOptions(resolution_mm=resolution_mm, healthy=True)).case
    affine = torch.as_tensor(ras_affine(case.reference))
    image = np.stack([from_sitk(case.images[c]) for c in CONTRASTS]).astype(np.float32)
    label = from_sitk(case.label)[None].astype(np.uint8)
    return {"image": MetaTensor(image, affine=affine), "label": MetaTensor(label, affine=affine)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--resolution", type=float, nargs="+", default=[2.0, 1.0])
    args = parser.parse_args()
    result: dict = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "runs": args.runs}
    for resolution in args.resolution:
        sample = phantom_sample(resolution)
        transform = RandLesionSynthesisd(prob=1.0, device="cpu")
        transform.set_random_state(seed=0)
        transform(sample)  # warm-up: loads the model
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            transform(sample)
            times.append(time.perf_counter() - start)
        result[f"{resolution:g}mm_s_per_sample"] = {"median": round(statistics.median(times), 3),
                                                   "min": round(min(times), 3), "max": round(max(times), 3)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
