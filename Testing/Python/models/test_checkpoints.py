"""Training checkpoints load without running code and say what is wrong with a damaged one."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from SynthPathologyLib.models.card import ModelFileError
from SynthPathologyLib.models.checkpoints import load_checkpoint, save_checkpoint


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_checkpoint_carrying_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as stream:
        pickle.dump({"step": 1, "payload": _Exploit(marker)}, stream)
    with pytest.raises(ModelFileError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_round_trip_and_a_truncated_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "run" / "last.pt", {"step": 3, "weights": {"w": torch.arange(4.0)}})
    state = load_checkpoint(path)
    assert state["step"] == 3 and torch.equal(state["weights"]["w"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no partial file left behind
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelFileError, match="corrupt or truncated checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ModelFileError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
