"""Phantom generation time per case, at 1 mm and 2 mm.

Prints one JSON object: the time to load the default (MNI152) brain at each resolution (once per
process: reading the template, then resampling it; not part of the per-case times), and for each
resolution the median, minimum and maximum time of ``make_phantom_case`` over ``--runs`` seeds
(tumor cases, default options; a warm-up case first), plus the machine's CPU count.

Run from the repository root with the package importable, e.g.
``python Testing/benchmarks/bench_phantom.py --runs 5``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from SynthPathologyLib.phantom.default_brain import load_default_brain
from SynthPathologyLib.phantom.generator import PhantomOptions, make_phantom_case


def seconds(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed cases per resolution (default 5)")
    args = parser.parse_args()

    result: dict = {"cpus": os.cpu_count(), "runs": args.runs, "template_load_s": {}, "case_s": {}}
    for resolution in (1.0, 2.0):
        result["template_load_s"][f"{resolution:g}mm"] = round(seconds(lambda: load_default_brain(resolution)), 3)
    for resolution in (1.0, 2.0):
        options = PhantomOptions(resolution_mm=resolution)
        make_phantom_case(0, options)  # warm-up
        times = [seconds(lambda: make_phantom_case(seed, options)) for seed in range(1, args.runs + 1)]
        result["case_s"][f"{resolution:g}mm"] = {
            "median": round(statistics.median(times), 3),
            "min": round(min(times), 3),
            "max": round(max(times), 3),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
