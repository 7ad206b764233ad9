"""Shared test fixtures: brain phantom cases at 2 mm (about 100 x 116 x 94 voxels).

Fixtures (session-scoped, built once per test run; treat them as read-only and copy before
changing, e.g. ``sitk.Image(case.images["t1"])``):

- ``tumor_phantom``: :class:`~SynthPathologyLib.phantom.generator.PhantomCase` with a glioma (labels 1 NCR,
  2 ED, 3 ET all present), its lesion spec and the case's tissue maps.
- ``healthy_phantom``: the same seed without tumor: same anatomy, bias field and noise, empty label.
- ``tumor_case`` / ``healthy_case``: their :class:`~SynthPathologyLib.core.case.Case` (images "t1",
  "t1c", "t2", "flair" as int16, 0 outside the brain; label uint8; brain mask).
"""

from __future__ import annotations

import pytest

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.phantom.generator import PhantomCase, PhantomOptions, make_phantom_case

PHANTOM_SEED = 7
PHANTOM_RESOLUTION_MM = 2.0


@pytest.fixture(scope="session")
def tumor_phantom() -> PhantomCase:
    return make_phantom_case(PHANTOM_SEED, PhantomOptions(resolution_mm=PHANTOM_RESOLUTION_MM), case_id="Phantom-tumor")


@pytest.fixture(scope="session")
def healthy_phantom() -> PhantomCase:
    options = PhantomOptions(resolution_mm=PHANTOM_RESOLUTION_MM, healthy=True)
    return make_phantom_case(PHANTOM_SEED, options, case_id="Phantom-healthy")


@pytest.fixture(scope="session")
def tumor_case(tumor_phantom: PhantomCase) -> Case:
    return tumor_phantom.case


@pytest.fixture(scope="session")
def healthy_case(healthy_phantom: PhantomCase) -> Case:
    return healthy_phantom.case
