"""``augment`` across processes (``--workers``) and machines (``--shard I/N``): the same files as one
serial run, with a tiny untrained model on three 2 mm phantom cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.models import save_tiny_model

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.core.case import Case
from SynthPathologyLib.io.brats import find_brats_cases, write_brats_case

CASES = ("A", "B", "C")
# Provenance fields that record when a case was made, not what it is.
WHEN = ("created_utc",)


@pytest.fixture(scope="module")
def augment(tmp_path_factory, healthy_case) -> list[str]:
    """The augment command line without --out, over a dataset of three cases (one anatomy, three names:
    three different lesions)."""
    data = tmp_path_factory.mktemp("data")
    for name in CASES:
        write_brats_case(Case(dict(healthy_case.images), case_id=name), data / name)
    model = save_tiny_model(tmp_path_factory.mktemp("model"))
    return ["augment", "--data", str(data), "--model", str(model), "--diameter-range", "14", "18",
            "--seed", "3", "--device", "cpu"]


@pytest.fixture(scope="module")
def serial(augment, tmp_path_factory) -> Path:
    """One serial run's dataset."""
    out = tmp_path_factory.mktemp("serial")
    assert main([*augment, "--out", str(out)]) == 0
    return out


def dataset_files(out: Path) -> dict[str, bytes | dict]:
    """Every file of every case folder of ``out``: an image's bytes, a provenance's fields but
    :data:`WHEN`."""
    files = {}
    for folder in find_brats_cases(out):
        for path in sorted(folder.iterdir()):
            name = path.relative_to(out).as_posix()
            if path.suffix == ".json":
                files[name] = {k: v for k, v in json.loads(path.read_text()).items() if k not in WHEN}
            else:
                files[name] = path.read_bytes()
    return files


def test_the_shards_of_a_dataset_write_what_one_run_does_each_with_its_own_report(augment, serial, tmp_path):
    out = tmp_path / "sharded"
    out.mkdir()
    # Shard 0 is writing its first case (B belongs to shard 1) and replacing its report: shard 1 leaves
    # both alone, and removes its own stale partial folder only.
    others = [out / ".partial-A-aug00-0123abcd", out / ".report-shard-0-of-2.json.89abcdef.partial"]
    others[0].mkdir()
    others[1].write_text("{")
    (out / ".partial-B-aug00-0123abcd").mkdir()
    assert main([*augment, "--shard", "1/2", "--out", str(out)]) == 0
    assert all(p.exists() for p in others) and not (out / ".partial-B-aug00-0123abcd").exists()
    assert [f.name for f in find_brats_cases(out)] == ["B-aug00"]

    assert main([*augment, "--shard", "0/2", "--out", str(out)]) == 0  # shard 0's run after it was killed
    assert not any(p.exists() for p in others)

    assert dataset_files(out) == dataset_files(serial)
    reports = {p.name: json.loads(p.read_text())["written"] for p in out.glob("report*.json")}
    assert reports == {"report-shard-0-of-2.json": ["A-aug00", "C-aug00"], "report-shard-1-of-2.json": ["B-aug00"]}


def test_worker_processes_write_what_one_process_does(augment, serial, tmp_path, capsys):
    out = tmp_path / "workers"
    assert main([*augment, "--workers", "2", "--out", str(out)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(f"augment: wrote 3 case(s) to {out} in ") and " case/s)" in summary
    assert dataset_files(out) == dataset_files(serial)
    assert json.loads((out / "report.json").read_text())["written"] == [f"{name}-aug00" for name in CASES]


def test_a_shard_beyond_the_cases_writes_nothing_and_says_so(augment, tmp_path, capsys):
    assert main([*augment, "--shard", "3/4", "--out", str(tmp_path / "out")]) == 0
    assert "shard 3/4 holds no case: the dataset has 3 case(s)" in capsys.readouterr().out


@pytest.mark.parametrize("shard", ["2/2", "-1/2", "0/0", "1", "a/b", "1/2/3"])
def test_a_bad_shard_is_refused_in_one_line(shard, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["augment", "--data", str(tmp_path), "--out", str(tmp_path / "out"), f"--shard={shard}"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith(f"argument --shard: expected I/N, the 0-based part I of N parts (0 <= I < N, "
                          f"e.g. 0/4 to 3/4), got {shard!r}")
