"""Datasets written so that a case folder appears whole, a re-run continues, and readers skip halves."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from SynthPathologyLib.core.case import Case
from SynthPathologyLib.core.errors import CaseError
from SynthPathologyLib.io.brats import case_or_dataset, find_brats_cases, naming_of, read_brats_case, write_brats_case
from SynthPathologyLib.io.dataset_writer import EXIT_NOTHING_WRITTEN, REPORT_FILE, DatasetWriter


def small_case(case_id: str) -> Case:
    image = sitk.GetImageFromArray(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6))
    return Case({"t1": image, "flair": sitk.Image(image)}, case_id=case_id)


def test_a_half_written_case_is_invisible_to_readers_and_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    write_brats_case(small_case("A"), out / ".partial-A-0123abcd")  # what a killed run leaves
    write_brats_case(small_case("B"), out / "B")
    (out / f".{REPORT_FILE}.89abcdef.partial").write_text('{"written": [')  # killed while replacing the report
    assert [p.name for p in find_brats_cases(out)] == ["B"]
    writer = DatasetWriter(out, "test")
    assert not (out / ".partial-A-0123abcd").exists()
    assert writer.done("B") and not writer.done("A")
    writer.write(small_case("A"), "2021", {"provenance.json": {"source_case": "x"}})
    assert sorted(p.name for p in out.iterdir()) == ["A", "B", REPORT_FILE]
    assert naming_of(out / "A") == "2021" and (out / "A" / "provenance.json").is_file()
    assert writer.finish() == 0
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["written"] == ["B", "A"] and report["resumed"] == ["B"]


def test_a_case_is_never_written_twice_and_a_run_writing_nothing_fails(tmp_path):
    writer = DatasetWriter(tmp_path / "out", "test")
    writer.write(small_case("A"), "2023")
    with pytest.raises(CaseError, match="exists already"):
        writer.write(small_case("A"), "2023")
    empty = DatasetWriter(tmp_path / "empty", "test")
    empty.skip("Z", "no room")
    assert empty.finish() == EXIT_NOTHING_WRITTEN
    assert json.loads((tmp_path / "empty" / REPORT_FILE).read_text())["skipped"] == [{"case": "Z", "reason": "no room"}]


def test_a_dataset_given_for_a_case_is_named_as_such(tmp_path):
    for name in ("A", "B"):
        write_brats_case(small_case(name), tmp_path / "data" / name)
    with pytest.raises(CaseError, match="a dataset of 2 case"):
        read_brats_case(tmp_path / "data", contrasts=())
    assert [p.name for p in case_or_dataset(tmp_path / "data")] == ["A", "B"]
    assert case_or_dataset(tmp_path / "data" / "A") == [tmp_path / "data" / "A"]
    with pytest.raises(CaseError, match="neither a BraTS case folder"):
        case_or_dataset(tmp_path)
