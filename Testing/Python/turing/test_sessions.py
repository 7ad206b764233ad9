"""Reader sessions and journals: own order per reader, resume, going back, time limits, damaged
journals, SIGKILL at any moment, concurrent readers, and the answer/status commands."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.turing import make_stub_package

from SynthPathologyLib.cli.main import main
from SynthPathologyLib.turing import (
    Answer,
    Settings,
    StudyPackage,
    open_package,
    open_session,
    reader_order,
    record_answer,
    study_status,
)
from SynthPathologyLib.turing.errors import JournalCorruptError, ReaderBusyError, SessionError
from SynthPathologyLib.turing.journal import read_journal

# A process that answers every case in a session, or records the given cases one by one.
CHILD = """
import sys
from SynthPathologyLib.turing import Answer, open_session, record_answer
package, reader, mode = sys.argv[1:4]
if mode == "session":
    with open_session(package, reader) as session:
        while session.current is not None:
            session.record("synthetic", 3, 4)
else:
    for case in sys.argv[4:]:
        record_answer(package, reader, case, Answer("real", 2, 2), lock_timeout_s=30)
"""


def spawn(package: Path, reader: str, mode: str = "session", *cases: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(package), reader, mode, *cases])


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def journal_lines(package: Path, reader: str) -> list[bytes]:
    return (package / "readers" / f"{reader}.jsonl").read_bytes().splitlines(keepends=True)


def test_each_reader_has_an_own_fixed_random_order(tmp_path):
    package = open_package(make_stub_package(tmp_path, 30))
    ids = package.manifest.case_ids
    order_a = reader_order(package.manifest.package_id, ids, "a")
    assert sorted(order_a) == sorted(ids) and order_a != tuple(sorted(ids))
    assert reader_order(package.manifest.package_id, ids, "a") == order_a
    assert reader_order(package.manifest.package_id, ids, "b") != order_a
    with open_session(package, "a") as session:
        assert session.order == order_a and session.current == order_a[0]


def test_session_commits_each_answer_and_resumes_where_it_stopped(tmp_path):
    package = make_stub_package(tmp_path, 6)
    with open_session(package, "reader1") as session:
        order = session.order
        assert session.progress.answered == 0 and session.progress.position == 1
        assert set(session.current_files) == {"t1", "t1c", "t2", "flair"}
        for _ in range(3):
            session.record("real", 4, 2, "blurry edema")
    assert [r.case for r in read_journal(open_package(package), "reader1").records] == list(order[:3])
    with open_session(package, "reader1") as session:
        assert session.current == order[3]
        assert (session.progress.answered, session.progress.total, session.progress.position) == (3, 6, 4)
        while session.current is not None:
            session.record("synthetic", 1, 5)
        assert session.progress.done and session.progress.position is None
        with pytest.raises(SessionError, match="answered every case"):
            session.record("real", 1, 1)


def test_going_back_changes_an_answer_only_when_the_study_allows_it(tmp_path):
    strict = make_stub_package(tmp_path / "strict", 4)
    with open_session(strict, "r") as session:
        first = session.current
        session.record("real", 3, 3)
        assert not session.can_go_back
        with pytest.raises(SessionError, match="does not allow going back"):
            session.go_back()
    with pytest.raises(SessionError, match="does not allow changing answers"):
        record_answer(strict, "r", first, Answer("synthetic", 3, 3))

    lenient = make_stub_package(tmp_path / "lenient", 4, Settings(allow_back=True))
    with open_session(lenient, "r") as session:
        order = session.order
        session.record("real", 3, 3)
        session.record("real", 2, 2)
        assert session.go_back() == order[1] and session.current_answer.confidence == 2
        assert session.go_back() == order[0]
        assert session.go_forward() == order[1]
        session.go_back()
        session.record("synthetic", 5, 1)  # changes the first answer, then shows the second case again
        assert session.current == order[1]
        session.record("real", 2, 2)
        assert session.current == order[2]
        with pytest.raises(SessionError, match="answer the current case"):
            session.go_forward()
    journal = read_journal(open_package(lenient), "r")
    assert [r.case for r in journal.records] == [order[0], order[1], order[0], order[1]]
    assert journal.latest()[order[0]].label == "synthetic"
    _, replaced, _ = record_answer(lenient, "r", order[0], Answer("real", 1, 1))
    assert replaced.label == "synthetic"


def test_time_spent_is_recorded_and_a_late_answer_flagged(tmp_path):
    package = make_stub_package(tmp_path, 3, Settings(time_limit_s=10))
    clock = FakeClock()
    with open_session(package, "r", clock=clock) as session:
        clock.now += 4
        assert session.time_left_s() == pytest.approx(6)
        early = session.record("real", 3, 3)
        clock.now += 12.5
        late = session.record("real", 3, 3)
    assert (early.time_s, early.time_limit_exceeded) == (4, False)
    assert (late.time_s, late.time_limit_exceeded) == (12.5, True)
    typed, _, _ = record_answer(package, "r", session.order[2], Answer("real", 3, 3))
    assert typed.time_s is None and typed.time_limit_exceeded is None


@pytest.mark.parametrize(
    "answer, message",
    [
        (("maybe", 3, 3), "label must be 'real' or 'synthetic'"),
        (("real", 0, 3), "confidence must be a whole number from 1 to 5"),
        (("real", 3, 6), "realism must be a whole number from 1 to 5"),
        (("real", 3, "4"), "realism must be a whole number"),
        (("real", 3, 3, "x" * 2001), "comment must be text of at most 2000"),
    ],
)
def test_invalid_answers_are_refused_and_not_written(tmp_path, answer, message):
    package = make_stub_package(tmp_path, 2)
    with open_session(package, "r") as session:
        with pytest.raises(SessionError, match=message):
            session.record(*answer)
        assert session.progress.answered == 0
    assert read_journal(open_package(package), "r").records == ()


@pytest.mark.parametrize("reader", ["../evil", "a b", "", "-x", "x" * 65, "a.jsonl"])
def test_unsafe_reader_ids_are_refused(tmp_path, reader):
    with pytest.raises(SessionError, match="is not allowed"):
        open_session(make_stub_package(tmp_path, 2), reader)


def test_only_listed_readers_may_answer(tmp_path):
    package = make_stub_package(tmp_path, 2, readers=("ana",))
    with pytest.raises(SessionError, match=r"not a reader of this study \(ana\)"):
        open_session(package, "bob")


def test_a_second_session_for_the_same_reader_is_refused(tmp_path):
    package = make_stub_package(tmp_path, 3)
    with open_session(package, "r"):
        with pytest.raises(ReaderBusyError, match=f"already has a session open \\(process {os.getpid()}\\)"):
            open_session(package, "r")
        with open_session(package, "other") as other:  # other readers are independent
            other.record("real", 1, 1)
    with open_session(package, "r") as again:  # closing released the lock
        assert again.progress.answered == 0


def test_torn_last_line_is_reported_then_set_aside(tmp_path):
    package = make_stub_package(tmp_path, 4)
    with open_session(package, "r") as session:
        session.record("real", 3, 3)
        session.record("synthetic", 4, 2)
        order = session.order
    journal_file = package / "readers" / "r.jsonl"
    torn = journal_lines(package, "r")[1][:40]
    with open(journal_file, "ab") as stream:  # a crash in the middle of writing a third answer
        stream.write(torn)
    journal = read_journal(open_package(package), "r")
    assert len(journal.records) == 2 and "incomplete last line (40 bytes)" in journal.warning
    assert "incomplete last line" in study_status(package)[0].warning
    with open_session(package, "r") as session:
        assert "was never committed" in session.warnings[0] and "r.jsonl.torn" in session.warnings[0]
        assert session.current == order[2]
        record = session.record("real", 1, 1)
    assert record.seq == 3
    assert (package / "readers" / "r.jsonl.torn").read_bytes() == torn + b"\n"
    assert [r.seq for r in read_journal(open_package(package), "r").records] == [1, 2, 3]


def _flip_label(lines: list[bytes]) -> list[bytes]:
    lines[1] = lines[1].replace(b'"label":"real"', b'"label":"synthetic"')
    return lines


@pytest.mark.parametrize(
    "damage, message",
    [
        (_flip_label, "line 2 is damaged: digest mismatch"),
        (lambda lines: [lines[0], lines[1][:30] + b"\n", lines[2]], "line 2 is damaged: not valid JSON"),
        (lambda lines: [lines[0], lines[2]], "line 2 is damaged: does not follow the line before it"),
        (lambda lines: [lines[0], b"\n", *lines[1:]], "line 2 is damaged: not valid JSON"),
        (lambda lines: [lines[0], lines[0], lines[2]], "line 2 is damaged: does not follow the line before it"),
    ],
    ids=["altered", "truncated", "deleted", "blank", "duplicated"],
)
def test_a_damaged_journal_line_is_an_error_naming_file_and_line(tmp_path, damage, message, capsys):
    package = make_stub_package(tmp_path, 4)
    with open_session(package, "r") as session:
        for _ in range(3):
            session.record("real", 3, 3)
    (package / "readers" / "r.jsonl").write_bytes(b"".join(damage(journal_lines(package, "r"))))
    with pytest.raises(JournalCorruptError, match=f"r.jsonl: {message}"):
        read_journal(open_package(package), "r")
    with pytest.raises(JournalCorruptError, match="line 2"):
        open_session(package, "r")
    assert main(["turing", "status", str(package)]) == 2
    assert "r.jsonl: line 2 is damaged" in capsys.readouterr().err


def test_a_journal_from_another_reader_is_refused(tmp_path):
    package = make_stub_package(tmp_path, 2)
    with open_session(package, "ana") as session:
        session.record("real", 3, 3)
    os.replace(package / "readers" / "ana.jsonl", package / "readers" / "bob.jsonl")
    with pytest.raises(JournalCorruptError, match="answer of reader 'ana', not 'bob'"):
        read_journal(open_package(package), "bob")


def answer_until_killed(package: StudyPackage, reader: str) -> tuple[int, int]:
    """Fork a process that answers every case in a session, writing each case id to a pipe once
    ``record`` has returned (committed). Returns its pid and the pipe's read end.

    Forked rather than started afresh: the loop below kills 20 of them, and a new interpreter
    would spend most of the test importing."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            session = open_session(package, reader)
            os.write(write_end, f"ready {session.current}\n".encode())
            while session.current is not None:
                case = session.current
                session.record("synthetic", 3, 4, "child")
                os.write(write_end, f"{case}\n".encode())
                time.sleep(0.002)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_sigkill_at_random_moments_loses_no_committed_answer(tmp_path):
    package = open_package(make_stub_package(tmp_path, 200))
    order = reader_order(package.manifest.package_id, package.manifest.case_ids, "r")
    rng = random.Random(20240611)
    acknowledged: list[str] = []
    for _ in range(20):
        resume_at = order[len(read_journal(package, "r").records)]  # the first unanswered case
        pid, read_end = answer_until_killed(package, "r")
        with os.fdopen(read_end) as pipe:
            assert pipe.readline().split() == ["ready", resume_at]
            # Let a few answers through, then kill at a random moment of the answering loop.
            acknowledged += [pipe.readline().strip() for _ in range(rng.randint(0, 3))]
            time.sleep(rng.uniform(0.0, 0.01))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            acknowledged += pipe.read().split()
        answered = [r.case for r in read_journal(package, "r").records]
        assert set(acknowledged) <= set(answered)
        assert answered == list(order[: len(answered)])  # in order, none twice, none skipped
    assert len(acknowledged) >= 20


def test_two_readers_answer_at_the_same_time(tmp_path):
    package = make_stub_package(tmp_path, 60)
    children = [spawn(package, reader) for reader in ("ana", "bob")]
    for child in children:
        assert child.wait(timeout=120) == 0
    journals = {reader: read_journal(open_package(package), reader) for reader in ("ana", "bob")}
    for journal in journals.values():
        assert len(journal.latest()) == 60 and [r.seq for r in journal.records] == list(range(1, 61))
    assert [r.case for r in journals["ana"].records] != [r.case for r in journals["bob"].records]


def test_two_processes_entering_answers_for_one_reader_never_interleave(tmp_path):
    package = make_stub_package(tmp_path, 40, Settings(allow_back=True))
    ids = list(open_package(package).manifest.case_ids)
    children = [spawn(package, "clerk", "answers", *ids[0::2]), spawn(package, "clerk", "answers", *ids[1::2])]
    for child in children:
        assert child.wait(timeout=120) == 0
    journal = read_journal(open_package(package), "clerk")
    assert sorted(journal.latest()) == sorted(ids) and [r.seq for r in journal.records] == list(range(1, 41))


def test_answer_and_status_commands(tmp_path, capsys):
    package = make_stub_package(tmp_path, 3, Settings(time_limit_s=30))
    case = open_package(package).manifest.case_ids[0]
    base = ["turing", "answer", str(package), "--reader", "ana", "--case", case]
    assert main([*base, "--label", "synthetic", "--confidence", "5", "--realism", "2", "--time-spent", "42"]) == 0
    captured = capsys.readouterr()
    assert f"case {case} synthetic" in captured.out and "over the study's time limit" in captured.err
    assert main([*base, "--label", "real", "--confidence", "5", "--realism", "2"]) == 2
    assert "does not allow changing answers" in capsys.readouterr().err
    assert main(["turing", "answer", str(package), "--reader", "ana", "--case", "nope", "--label", "real",
                 "--confidence", "1", "--realism", "1"]) == 2
    assert "no case 'nope'" in capsys.readouterr().err
    assert main(["turing", "status", str(package)]) == 0
    assert "ana: 1/3 answered (33%)" in capsys.readouterr().out
    record = json.loads(journal_lines(package, "ana")[0])
    assert record["via"] == "command line" and record["time_limit_exceeded"] is True
