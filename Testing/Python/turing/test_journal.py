"""Tamper evidence of reader journals: each line's digest covers the line before it, keyed with the
organizer's study secret when given, and the head file catches answers removed from the end;
journals of the first (unchained) format stay readable; repairs are reported; ``turing cases``
tells a reader's next case."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import pytest
from helpers.turing import make_stub_package

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.turing import open_package, open_session, reader_order
from SynthPathologyLib.turing.errors import JournalCorruptError, SessionError
from SynthPathologyLib.turing.journal import AnswerRecord, read_journal
from SynthPathologyLib.turing.journal_format import canonical

SECRET = b"0123456789abcdef0123456789abcdef"


def answered_package(tmp_path, secret=None, n_answers=3):
    package = make_stub_package(tmp_path, 4, readers=("r",))
    with open_session(open_package(package, secret), "r") as session:
        for _ in range(n_answers):
            session.record("real", 3, 3)
    return package


def journal(package):
    return package / "readers" / "r.jsonl"


def lines(package) -> list[dict]:
    return [json.loads(line) for line in journal(package).read_bytes().splitlines()]


def write_lines(package, fields: list[dict]) -> None:
    journal(package).write_bytes(b"".join(canonical(f) + b"\n" for f in fields))


def resealed(fields: dict) -> dict:
    """The line with its digest recomputed as SHA-256, as anyone could without the secret."""
    body = {k: v for k, v in fields.items() if k != "digest"}
    return {**body, "digest": hashlib.sha256(canonical(body)).hexdigest()}


def test_an_edited_line_with_a_recomputed_digest_breaks_the_chain(tmp_path):
    package = answered_package(tmp_path)
    fields = lines(package)
    fields[1] = resealed({**fields[1], "label": "synthetic"})
    write_lines(package, fields)
    with pytest.raises(JournalCorruptError, match="r.jsonl: line 3 is damaged: does not follow the line before it"):
        read_journal(open_package(package), "r")


def test_with_the_study_secret_no_edit_can_be_resealed(tmp_path):
    package = answered_package(tmp_path, SECRET)
    fields = lines(package)
    assert all(f["keyed"] for f in fields)
    edited = [fields[0]]
    for original in fields[1:]:  # the forger reseals the edited line and chains every later one
        line = resealed({**original, "label": "synthetic", "prev": edited[-1]["digest"]})
        edited.append(line)
    write_lines(package, edited)
    with pytest.raises(JournalCorruptError, match="line 2 is damaged: digest mismatch"):
        read_journal(open_package(package, SECRET), "r")
    with pytest.raises(JournalCorruptError, match="line 1 is damaged: digest mismatch"):
        read_journal(open_package(package, b"another study's secret, 32 bytes"), "r")


def test_a_removed_last_answer_is_detected(tmp_path):
    package = answered_package(tmp_path)
    journal(package).write_bytes(b"".join(journal(package).read_bytes().splitlines(keepends=True)[:-1]))
    with pytest.raises(JournalCorruptError, match="2 answer line\\(s\\), but its head records 3: answers were removed"):
        read_journal(open_package(package), "r")

    keyed = answered_package(tmp_path / "keyed", SECRET)
    first_two = journal(keyed).read_bytes().splitlines(keepends=True)[:-1]
    journal(keyed).write_bytes(b"".join(first_two))
    head = keyed / "readers" / "r.head"
    forged = {"seq": 2, "digest": json.loads(first_two[-1])["digest"], "mac": json.loads(head.read_bytes())["mac"]}
    head.write_bytes(canonical(forged))
    with pytest.raises(JournalCorruptError, match="r.head: its keyed checksum does not match"):
        read_journal(open_package(keyed, SECRET), "r")


def test_keyed_journals_need_the_secret_to_be_verified_and_continued(tmp_path, capsys):
    package = answered_package(tmp_path, SECRET, n_answers=1)
    assert "1 keyed answer line(s) not verified" in read_journal(open_package(package), "r").warning
    with pytest.raises(SessionError, match="keyed with its secret"):
        open_session(package, "r")
    (tmp_path / "study.secret").write_bytes(SECRET + b"\n")
    case = reader_order(open_package(package).manifest.package_id, open_package(package).manifest.case_ids, "r")[1]
    assert main(["turing", "answer", str(package), "--reader", "r", "--case", case, "--label", "real",
                 "--confidence", "2", "--realism", "2", "--study-secret", str(tmp_path / "study.secret")]) == 0
    assert len(read_journal(open_package(package, SECRET), "r").records) == 2


def test_a_journal_of_the_first_format_is_read_and_continued(tmp_path):
    package = make_stub_package(tmp_path, 3, readers=("r",))
    opened = open_package(package)
    first = reader_order(opened.manifest.package_id, opened.manifest.case_ids, "r")[0]
    record = AnswerRecord(1, opened.manifest.package_id, "r", first, "real", 4, 2, "", 12.5, None,
                          "2026-01-01T00:00:00.000+00:00", "session")
    fields = asdict(record)
    journal(package).write_bytes(canonical({**fields, "sha256": hashlib.sha256(canonical(fields)).hexdigest()}) + b"\n")
    with open_session(package, "r") as session:
        assert session.progress.answered == 1
        session.record("synthetic", 5, 5)
    records = read_journal(open_package(package), "r").records
    assert [(r.seq, r.label) for r in records] == [(1, "real"), (2, "synthetic")]
    assert lines(package)[1]["prev"] == lines(package)[0]["sha256"], "the new line chains to the old one"


def test_turing_answer_reports_the_repair_of_a_torn_line(tmp_path, capsys):
    package = answered_package(tmp_path, n_answers=1)
    with open(journal(package), "ab") as stream:
        stream.write(b'{"seq":2,"cas')  # a write cut short by a crash
    opened = open_package(package)
    case = reader_order(opened.manifest.package_id, opened.manifest.case_ids, "r")[1]
    assert main(["turing", "answer", str(package), "--reader", "r", "--case", case, "--label", "real",
                 "--confidence", "2", "--realism", "2"]) == 0
    assert "the last line (13 bytes) was incomplete" in capsys.readouterr().err


def test_turing_cases_lists_ids_and_a_readers_next_case(tmp_path, capsys):
    package = answered_package(tmp_path, n_answers=1)
    opened = open_package(package)
    order = reader_order(opened.manifest.package_id, opened.manifest.case_ids, "r")
    assert main(["turing", "cases", str(package)]) == 0
    assert capsys.readouterr().out.split() == list(opened.manifest.case_ids)
    assert main(["turing", "cases", str(package), "--reader", "r"]) == 0
    out, err = capsys.readouterr()
    assert f"1  {order[0]}  answered (real)" in out and f"2  {order[1]}  open" in out
    assert f"next case for reader r: {order[1]}" in err
