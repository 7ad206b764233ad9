"""The allocator setting of the browser app's server: freed whole-volume buffers are reused
instead of being returned to the system and faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Allocates and first-touches a 1 mm brain volume (34 MB of float32) a few times and prints the
# page faults of the last round; with "keep" the process first keeps freed memory for reuse.
PROGRAM = """
import resource, sys
import SimpleITK as sitk
from SynthPathologyLib.core.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    volume = sitk.Image([193, 229, 193], sitk.sitkFloat32)  # zero-filled: every page touched
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del volume
print(faults)
"""


def page_faults(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return int(run.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a glibc setting")
def test_freed_volume_buffers_are_reused_without_page_faults():
    default, kept = page_faults("default"), page_faults("keep")
    assert default > 5000  # ~8,300 fresh 4 KiB pages per volume
    assert kept < default / 10
