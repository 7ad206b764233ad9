"""The training data pipeline: the on-disk case cache reads back exactly the normalized volume, is
rebuilt when a case file changes and never serves a half-written entry; peak memory does not grow
with the number of cases; loader workers draw the same patches as the training process itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from SynthPathologyLib.io.brats import read_brats_case
from SynthPathologyLib.networks.conditioning import intensity_scale
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.phantom.dataset import write_phantom_dataset
from SynthPathologyLib.phantom.generator import PhantomOptions
from SynthPathologyLib.training import case_cache
from SynthPathologyLib.training.config import load_config
from SynthPathologyLib.training.data import PatchSampler, batch_loader
from SynthPathologyLib.training.sources import cached_cases, split_cases

ROOT = Path(__file__).resolve().parents[3]
CONTRASTS = ("t1", "t1c", "t2", "flair")
# Peak memory of a training process's data side: cache (build or open) every case, then draw batches.
PROBE = """
import sys
from pathlib import Path
from SynthPathologyLib.pathologies import get_pathology
from SynthPathologyLib.training.config import load_config
from SynthPathologyLib.training.data import PatchSampler
from SynthPathologyLib.training.sources import cached_cases, split_cases
glioma = get_pathology("glioma")
cases = cached_cases(split_cases(sys.argv[1], 0)[0], glioma.contrasts, Path(sys.argv[2]), progress=False)
sampler = PatchSampler(cases, glioma, load_config(None, ["patch_size=[32,32,32]"]))
for step in range(6):
    sampler.batch(step, 2)
# VmHWM (KiB): this process's own peak; ru_maxrss would start at the forking parent's size.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phantoms")
    write_phantom_dataset(out, 6, seed=2, options=PhantomOptions(resolution_mm=2.0), progress=False)
    return out


def whole(case: case_cache.CachedCase) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in case.shape)


def test_the_cache_reads_back_the_normalized_volume_exactly(phantoms, tmp_path):
    folder = split_cases(phantoms, 0)[0][0]
    cached = case_cache.cached_case(folder, CONTRASTS, tmp_path)
    case = read_brats_case(folder, contrasts=CONTRASTS, require_label=True)
    brain = sitk.GetArrayFromImage(case.mask()) > 0
    arrays = [sitk.GetArrayFromImage(case.images[c]).astype(np.float32) for c in CONTRASTS]
    expected = np.stack([a / intensity_scale(a, brain) for a in arrays])  # the in-memory normalization
    label = sitk.GetArrayFromImage(case.label)
    assert any(s.stop - s.start < n for s, n in zip(cached.crop, cached.shape))  # cropped, yet:
    assert np.array_equal(cached.image(whole(cached)), expected)
    corner = (slice(0, 20), slice(0, 20), slice(0, 20))  # outside the crop
    assert np.array_equal(cached.image(corner), expected[(slice(None), *corner)])
    assert np.array_equal(cached.window("label", whole(cached)), label)
    assert np.array_equal(cached.window("brain", whole(cached)), brain)
    assert np.array_equal(cached.array("lesion_voxels"), np.flatnonzero(label))
    assert np.array_equal(cached.array("healthy_centers"), np.argwhere((brain & (label == 0))[::4, ::4, ::4]) * 4)


def test_a_changed_case_file_rebuilds_its_entry(phantoms, tmp_path):
    folder = shutil.copytree(split_cases(phantoms, 0)[0][0], tmp_path / "data" / "Phantom-00000")
    cache = tmp_path / "cache"
    old = case_cache.cached_case(folder, CONTRASTS, cache)
    assert case_cache.cached_case(folder, CONTRASTS, cache) == old  # unchanged: the same entry
    path = next(folder.glob("*-t1n.nii.gz"))
    image = sitk.ReadImage(str(path))
    sitk.WriteImage(image * 2, str(path))
    new = case_cache.cached_case(folder, CONTRASTS, cache)
    assert new.entry != old.entry and not old.entry.exists()
    assert new.scales[0] == pytest.approx(2 * old.scales[0])


def test_a_half_written_entry_is_never_used(phantoms, tmp_path, monkeypatch):
    folder = split_cases(phantoms, 0)[0][0]
    saved = []

    def crash_on_third_array(path, array):
        saved.append(path)
        if len(saved) == 3:
            raise OSError("disk full")
        np.save(path, array)

    with monkeypatch.context() as patch:
        patch.setattr(case_cache, "_save", crash_on_third_array)
        with pytest.raises(OSError, match="disk full"):
            case_cache.cached_case(folder, CONTRASTS, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no entry, and the temporary one is gone
    # A build killed mid-write leaves its temporary entry: never read, removed once stale.
    key = case_cache.entry_key(folder.resolve(), CONTRASTS, True)
    killed = tmp_path / f"{case_cache.PARTIAL_PREFIX}{folder.name}-{key}-dead"
    running = tmp_path / f"{case_cache.PARTIAL_PREFIX}{folder.name}-{key}-live"
    for partial in (killed, running):
        partial.mkdir()
        (partial / "image0.npy").write_bytes(b"\x93NUMPY truncated")
    os.utime(killed, (0, 0))
    cached = cached_cases([folder], CONTRASTS, tmp_path, progress=False)[0]
    assert not killed.exists() and running.exists()
    assert cached.entry.name == f"{folder.name}-{key}"
    assert cached.image(whole(cached)).shape == (4, *cached.shape)


def test_peak_memory_does_not_grow_with_the_number_of_cases(phantoms, tmp_path):
    two = tmp_path / "two"
    for folder in split_cases(phantoms, 0)[0][:2]:
        shutil.copytree(folder, two / folder.name)

    def peak_bytes(data: Path) -> int:
        result = subprocess.run([sys.executable, "-c", PROBE, str(data), str(tmp_path / f"cache-{data.name}")],
                                capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr[-2000:]
        return int(result.stdout.split()[-1]) * 1024

    growth = peak_bytes(phantoms) - peak_bytes(two)
    # Holding the 4 further cases in memory as float32 contrasts and bool masks, as training did.
    voxels = np.prod(cached_cases([two / "Phantom-00000"], CONTRASTS, tmp_path / "cache-two", progress=False)[0].shape)
    in_memory = 4 * int(voxels) * (4 * 4 + 3)
    assert growth < 0.25 * in_memory, (growth, in_memory)


def test_loader_workers_draw_the_same_batches(phantoms, tmp_path):
    config = load_config(None, ["patch_size=[24,24,24]", "healthy_fraction=0.5", "appearance_augment=true"])
    cases = cached_cases(split_cases(phantoms, 0)[0][:3], CONTRASTS, tmp_path, progress=False)
    sampler = PatchSampler(cases, get_pathology("glioma"), config)
    steps = range(5, 9)
    in_process, by_workers = (list(batch_loader(sampler, 2, steps, workers)) for workers in (0, 2))
    for step, a, b in zip(steps, in_process, by_workers):
        direct = sampler.batch(step, 2)
        for name in ("condition", "target", "region", "lesion", "available", "other_noise"):
            assert torch.equal(getattr(a, name), getattr(b, name)), (step, name)
            assert torch.equal(getattr(a, name), getattr(direct, name)), (step, name)
