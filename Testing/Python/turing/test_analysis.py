"""Turing-test statistics against values computed by hand on a fixed answer set, the report files,
and clear results (None with a note) or errors where the answers cannot support a statistic."""

from __future__ import annotations

import base64
import csv
import json
import math
from pathlib import Path

import pytest
from helpers.turing import make_stub_package

from SynthPathologyLib.turing import Answer, Settings, analyze_study, open_package, record_answer, write_report
from SynthPathologyLib.turing.answer_key import AnswerKey, write_key
from SynthPathologyLib.turing.errors import AnswerKeyError, JournalCorruptError, StudyPackageError

# Eight cases: the first four real, the last four synthetic.
TRUTH = ["real"] * 4 + ["synthetic"] * 4
# Per reader and case: label, confidence, realism, seconds (None: typed in from paper).
ANSWERS = {
    "a": [("real", 5, 5, 10), ("real", 3, 4, 20), ("real", 2, 4, 30), ("synthetic", 2, 3, 40),
          ("synthetic", 4, 2, 50), ("synthetic", 1, 3, 60), ("real", 1, 1, 70), ("synthetic", 5, 2, 80)],
    "b": [("real", 4, 3, None), ("synthetic", 3, 3, None), ("real", 2, 3, None), ("real", 5, 3, None),
          ("synthetic", 5, 3, None), ("real", 3, 3, None), ("synthetic", 1, 3, None), ("real", 1, 3, None)],
}
Z = 1.959963984540054  # standard normal 97.5% quantile


def wilson(k: int, n: int) -> list[float]:
    """Wilson score interval, written out."""
    p = k / n
    center = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return [center - half, center + half]


def make_study(root: Path, answers: dict, settings: Settings = Settings(time_limit_s=60)) -> tuple[Path, Path]:
    package = make_stub_package(root / "package", len(TRUTH), settings)
    ids = open_package(package).manifest.case_ids
    key = write_key(root / "key.json", AnswerKey(open_package(package).manifest.package_id, dict(zip(ids, TRUTH)),
                                                 {i: f"/data/{i}" for i in ids}, 0, 0.5, "/data/r", "/data/s"),
                    package)
    for reader, rows in answers.items():
        for case, row in zip(ids, rows):
            if row is not None:
                label, confidence, realism, seconds = row
                record_answer(package, reader, case, Answer(label, confidence, realism, "note"), time_s=seconds)
    return package, key


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, Path]:
    return make_study(tmp_path_factory.mktemp("study"), ANSWERS)


def test_statistics_match_hand_computed_values(study):
    analysis = analyze_study(*study)
    a, b, pooled = analysis.per_reader["a"], analysis.per_reader["b"], analysis.pooled

    # Reader a: 6 of 8 right; 3 of 4 synthetic and 3 of 4 real recognised.
    assert (a["n"], a["correct"], a["accuracy"]) == (8, 6, 0.75)
    assert a["ci95"] == pytest.approx(wilson(6, 8))
    assert a["ci95"] == pytest.approx([0.40928, 0.92852], abs=1e-5)
    assert a["p_value"] == pytest.approx(2 * (28 + 8 + 1) / 256)  # P(X >= 6) doubled, X ~ Bin(8, 1/2)
    assert (a["sensitivity"], a["specificity"]) == (0.75, 0.75)
    assert a["sensitivity_ci95"] == pytest.approx(wilson(3, 4))
    # Scores real -5 -3 -2 +2, synthetic +4 +1 -1 +5: 14 of 16 pairs ordered right.
    assert a["roc_auc"] == pytest.approx(14 / 16)
    # Realism real 5 4 4 3 vs synthetic 2 3 1 2: U = 4 + 4 + 4 + 3.5; normal approximation with
    # tie correction (ties: three pairs) and continuity correction.
    assert a["realism"]["mann_whitney_u"] == 15.5
    sigma = math.sqrt(4 * 4 / 12 * ((8 + 1) - 3 * (2**3 - 2) / (8 * 7)))
    assert a["realism"]["p_value"] == pytest.approx(math.erfc((15.5 - 8 - 0.5) / sigma / math.sqrt(2)))
    assert (a["realism"]["real"]["mean"], a["realism"]["synthetic"]["mean"]) == (4, 2)
    assert a["time_s"] == {"n": 8, "mean": 45, "median": 45, "exceeded_limit": 2}

    # Reader b: 5 of 8; scores real -4 +3 -2 -5, synthetic +5 -3 +1 -1: 4 + 2 + 3 + 3 = 12 of 16.
    assert (b["correct"], b["sensitivity"], b["specificity"]) == (5, 0.5, 0.75)
    assert b["p_value"] == pytest.approx(2 * (56 + 28 + 8 + 1) / 256)
    assert b["roc_auc"] == pytest.approx(12 / 16)
    assert b["realism"]["mann_whitney_u"] == 8 and b["realism"]["p_value"] == 1  # every rating a 3
    assert b["time_s"] == {"n": 0, "mean": None, "median": None, "exceeded_limit": 0}

    # Pooled: 11 of 16.
    assert (pooled["n"], pooled["correct"]) == (16, 11)
    assert pooled["ci95"] == pytest.approx(wilson(11, 16))
    assert pooled["p_value"] == pytest.approx(2 * (4368 + 1820 + 560 + 120 + 16 + 1) / 2**16)
    assert (pooled["sensitivity"], pooled["specificity"]) == (5 / 8, 6 / 8)
    assert pooled["roc_auc"] == pytest.approx(51.5 / 64)
    assert pooled["realism"]["mann_whitney_u"] == 51.5

    # Agreement: the readers agree on 3 of 8 cases; a says synthetic 4 times, b 3 times.
    # Cohen: po = 3/8, pe = 4/8 * 3/8 + 4/8 * 5/8 = 1/2. Fleiss: P = 3/8, Pe = (7/16)^2 + (9/16)^2.
    assert analysis.agreement["cohen_kappa"] == [
        {"reader_a": "a", "reader_b": "b", "n": 8, "kappa": pytest.approx(-0.25)}]
    pe = (7 / 16) ** 2 + (9 / 16) ** 2
    assert analysis.agreement["fleiss_kappa"] == pytest.approx((3 / 8 - pe) / (1 - pe))
    assert analysis.agreement["fleiss_n_cases"] == 8


def test_report_files_summary_tables_and_self_contained_html(study, tmp_path):
    paths = write_report(analyze_study(*study), tmp_path / "results")
    assert set(paths) == {"summary.json", "answers.csv", "readers.csv", "agreement.csv", "report.html"}

    def no_nan(token):
        raise AssertionError(f"summary.json holds {token}")

    summary = json.loads(paths["summary.json"].read_text(), parse_constant=no_nan)
    for stats in (summary["pooled"], summary["readers"]["a"], summary["readers"]["b"]):
        assert {"accuracy", "ci95", "p_value", "n"} <= stats.keys() and len(stats["ci95"]) == 2
    assert summary["pooled"]["accuracy"] == 11 / 16 and summary["readers"]["b"]["n"] == 8

    readers = list(csv.DictReader(paths["readers.csv"].open()))
    assert [r["reader"] for r in readers] == ["a", "b", "pooled"] and float(readers[0]["accuracy"]) == 0.75
    answers = list(csv.DictReader(paths["answers.csv"].open()))
    assert len(answers) == 16 and {r["truth"] for r in answers} == {"real", "synthetic"}
    assert [r["cohen_kappa"] for r in csv.DictReader(paths["agreement.csv"].open())] == ["-0.25"]

    page = paths["report.html"].read_text()
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 4
    assert all(base64.b64decode(image.split('"')[0]).startswith(b"\x89PNG") for image in images)
    for external in ("http://", "https://", "<script", "<link", "src=\"/", "src=\"file"):
        assert external not in page


def test_a_later_answer_supersedes_an_earlier_one(tmp_path):
    package, key = make_study(tmp_path, {"a": ANSWERS["a"]}, Settings(allow_back=True))
    assert analyze_study(package, key).pooled["correct"] == 6
    first = open_package(package).manifest.case_ids[3]  # answered wrongly as synthetic
    record_answer(package, "a", first, Answer("real", 4, 3))
    assert analyze_study(package, key).pooled["correct"] == 7


def test_undefined_statistics_are_none_with_a_note(tmp_path):
    # One reader, who answered only two real cases; a second reader who answered nothing.
    package, key = make_study(tmp_path, {"a": ANSWERS["a"][:2]})
    (package / "readers" / "b.jsonl").write_bytes(b"")  # a reader who opened a session only
    analysis = analyze_study(package, key)
    stats = analysis.per_reader["a"]
    assert (stats["sensitivity"], stats["roc_auc"], stats["realism"]["p_value"]) == (None, None, None)
    assert stats["specificity"] == 1.0 and stats["accuracy"] == 1.0
    assert analysis.agreement == {"fleiss_kappa": None, "fleiss_n_cases": 0, "cohen_kappa": []}
    notes = " | ".join(analysis.notes)
    for expected in ("reader a: no synthetic case answered", "Mann-Whitney U test is undefined",
                     "reader b answered no case", "at least two readers", "reader a answered 2 of 8"):
        assert expected in notes
    paths = write_report(analysis, tmp_path / "results")
    assert json.loads(paths["summary.json"].read_text())["pooled"]["roc_auc"] is None


def test_kappa_is_none_when_readers_never_vary(tmp_path):
    same = [("real", 3, 3, 5)] * 8
    analysis = analyze_study(*make_study(tmp_path, {"a": same, "b": same}))
    assert analysis.agreement["fleiss_kappa"] is None
    assert analysis.agreement["cohen_kappa"][0]["kappa"] is None
    assert any("Cohen's kappa of a and b is undefined" in note for note in analysis.notes)


def test_analysis_refuses_what_it_cannot_trust(study, tmp_path):
    package, key = study
    other = json.loads(key.read_text())
    other["package_id"] = "e" * 32
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(AnswerKeyError, match="belongs to another study package"):
        analyze_study(package, tmp_path / "other.json")
    with pytest.raises(StudyPackageError, match="outside the study package"):
        write_report(analyze_study(package, key), package / "results")
    empty, empty_key = make_study(tmp_path / "empty", {})
    with pytest.raises(StudyPackageError, match="no reader has answered yet"):
        analyze_study(empty, empty_key)
    damaged, damaged_key = make_study(tmp_path / "damaged", {"a": ANSWERS["a"]})
    journal = damaged / "readers" / "a.jsonl"
    journal.write_bytes(journal.read_bytes().replace(b'"confidence":3', b'"confidence":4', 1))
    with pytest.raises(JournalCorruptError, match="a.jsonl: line 2 is damaged: digest mismatch"):
        analyze_study(damaged, damaged_key)
