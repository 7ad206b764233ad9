"""The ``synthpathology turing`` command: create, audit, cases, answer, status, analyze.

Library modules are imported inside each command, so that ``synthpathology --help`` and the light
commands do not pay for scipy, scikit-learn and matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .options import add_command, add_command_group, positive_int

EXIT_LEAKS_FOUND = 1


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _rating(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 5:
        raise argparse.ArgumentTypeError(f"must be 1, 2, 3, 4 or 5, got {value}")
    return value


def _reader_list(text: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in text.split(",") if r.strip())


def cmd_create(args: argparse.Namespace) -> int:
    """Draw cases from a real and a synthetic BraTS-layout dataset into a study package under anonymous
    ids, all on one grid, with one intensity scaling and identical headers, and write the answer key
    to a separate file."""
    from ..turing.create import CreateOptions, create_package
    from ..turing.study_package import Settings

    options = CreateOptions(
        n_cases=args.cases,
        fraction_synthetic=args.fraction_synthetic,
        readers=args.readers,
        seed=args.seed,
        settings=Settings(allow_back=args.allow_back, time_limit_s=args.time_limit),
        allow_unlabelled_synthetic=args.allow_unlabelled_synthetic,
    )
    result = create_package(args.real, args.synthetic, args.out, args.key, options, progress=True)
    print(f"wrote study package {result.package}: {result.n_real + result.n_synthetic} cases "
          f"({result.n_real} real, {result.n_synthetic} synthetic)")
    print(f"wrote answer key {result.key} (seed {result.seed}); keep it away from the readers")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for truth, count in result.resampled.items():
        if count:
            print(f"note: {count} {truth} case(s) were resampled onto the common grid; interpolation smooths "
                  "images, which readers might notice", file=sys.stderr)
    return 0


def open_study(package: str | Path, secret_file: str | Path | None):
    """The study package at ``package``, with the study secret of ``secret_file`` (--study-secret) if given."""
    from ..turing.journal_format import read_study_secret
    from ..turing.study_package import open_package

    return open_package(package, read_study_secret(secret_file) if secret_file else None)


def cmd_cases(args: argparse.Namespace) -> int:
    """List the anonymous case ids of a study package; with --reader, the reader's own order with what
    they answered, and their next case (for 'turing answer --case')."""
    from ..turing.journal import read_journal
    from ..turing.session import reader_order

    package = open_study(args.package, args.study_secret)
    if args.reader is None:
        print("\n".join(package.manifest.case_ids))
        return 0
    order = reader_order(package.manifest.package_id, package.manifest.case_ids, package.check_reader(args.reader))
    answered = read_journal(package, args.reader).latest()
    for position, case in enumerate(order, start=1):
        print(f"{position:4d}  {case}  " + (f"answered ({answered[case].label})" if case in answered else "open"))
    following = next((case for case in order if case not in answered), None)
    print(f"next case for reader {args.reader}: {following}" if following else
          f"reader {args.reader} has answered every case", file=sys.stderr)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Compare everything a reader can see except the image content (file names, sizes, header fields,
    times, extra files) across cases. Exit status 1 lists each leak."""
    from ..turing.audit import audit_package

    report = audit_package(args.package, args.key)
    if report.ok:
        print(f"{report.package}: blind. {report.n_cases} cases show identical values for all "
              f"{report.n_properties} visible properties, and the package holds nothing else"
              + (" (source names searched with the key)" if report.used_key else ""))
        return 0
    for leak in report.leaks:
        print(f"LEAK {leak}")
    print(f"{report.package}: {len(report.leaks)} leak(s): readers could tell cases apart without the images",
          file=sys.stderr)
    return EXIT_LEAKS_FOUND


def cmd_answer(args: argparse.Namespace) -> int:
    """Record one answer in the reader's journal (scripted entry, transcribed paper forms)."""
    from ..turing.journal import Answer
    from ..turing.session import record_answer

    record, earlier, warnings = record_answer(open_study(args.package, args.study_secret), args.reader, args.case,
                                              Answer(args.label, args.confidence, args.realism, args.comment),
                                              time_s=args.time_spent)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"recorded for reader {record.reader}: case {record.case} {record.label}, confidence "
          f"{record.confidence}, realism {record.realism} (journal entry {record.seq})"
          + (f"; replaces {earlier.label}, confidence {earlier.confidence}" if earlier else ""))
    if record.time_limit_exceeded:
        print(f"note: {record.time_s:g} s is over the study's time limit; the answer is flagged", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Show how many cases each reader has answered."""
    from ..turing.errors import JournalCorruptError
    from ..turing.session import study_status

    statuses = study_status(open_study(args.package, args.study_secret))
    if not statuses:
        print("no reader has answered yet")
    for s in statuses:
        if s.error:
            print(f"{s.reader}: journal damaged (see below)")
            continue
        print(f"{s.reader}: {s.answered}/{s.total} answered ({100 * s.answered / s.total:.0f}%)"
              + (f", last answer {s.last_answer_at}" if s.last_answer_at else "")
              + (" - done" if s.answered == s.total else ""))
        if s.warning:
            print(f"warning: {s.warning}", file=sys.stderr)
    errors = [s.error for s in statuses if s.error]
    if errors:
        raise JournalCorruptError("; ".join(errors))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """Accuracy (Wilson 95% CI, binomial test against 50%), sensitivity, specificity, ROC AUC, Fleiss'
    and Cohen's kappa, realism (Mann-Whitney U) and time per case, per reader and pooled: CSV tables,
    summary.json and a self-contained HTML report."""
    from ..turing.analysis import analyze_study
    from ..turing.report import write_report

    package = open_study(args.package, args.study_secret)
    analysis = analyze_study(package.root, args.key, package.secret)
    paths = write_report(analysis, args.out)
    pooled = analysis.pooled
    low, high = pooled["ci95"]
    print(f"pooled: accuracy {pooled['accuracy']:.3f} (95% CI {low:.3f}-{high:.3f}), p = {pooled['p_value']:.4g}, "
          f"n = {pooled['n']} answers from {len(analysis.readers)} reader(s)")
    for reader, stats in analysis.per_reader.items():
        print(f"  {reader}: accuracy {stats['accuracy']:.3f}, p = {stats['p_value']:.4g}, n = {stats['n']}")
    for warning in analysis.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {', '.join(paths)} to {args.out}")
    return 0


def _add_study_action(actions: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int],
                      help: str) -> argparse.ArgumentParser:
    """The ``turing`` action ``name`` (:func:`add_command`) on a study package folder, its first argument."""
    action = add_command(actions, name, run, help)
    action.add_argument("package", help="study package folder")
    return action


def add_turing_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``turing`` and its actions to the top-level subcommands of ``synthpathology``."""
    actions = add_command_group(
        commands, "turing", "turing_command", "ACTION",
        help="blinded real-vs-synthetic reading studies (visual Turing test)",
        description="Build a blinded study package of real and synthetic cases, check its blinding, record "
                    "readers' answers and analyse them against the answer key.")

    create = add_command(actions, "create", cmd_create,
                         help="draw real and synthetic cases into a blinded study package")
    create.add_argument("--real", required=True, help="BraTS-layout dataset of real cases")
    create.add_argument("--synthetic", required=True, help="BraTS-layout dataset of synthetic cases")
    create.add_argument("--out", required=True, help="new study package folder")
    create.add_argument("--key", required=True, help="answer key file to write (outside the package)")
    create.add_argument("--cases", type=positive_int, help="number of cases (default: as many as the datasets allow)")
    create.add_argument("--fraction-synthetic", type=float, default=0.5, help="share of synthetic cases (default 0.5)")
    create.add_argument("--readers", type=_reader_list, default=(), metavar="A,B,C",
                        help="reader ids of the study (default: any reader id)")
    create.add_argument("--seed", type=int, help="random seed (default: a fresh one, recorded in the key)")
    create.add_argument("--allow-back", action="store_true", help="let readers go back and change answers")
    create.add_argument("--time-limit", type=_positive_float, metavar="SECONDS",
                        help="time per case after which answers are flagged (default: none)")
    create.add_argument("--allow-unlabelled-synthetic", action="store_true",
                        help="accept synthetic case folders without provenance.json or phantom.json (by default "
                             "refused: they may be real cases)")

    audit = _add_study_action(actions, "audit", cmd_audit,
                              help="check that nothing but the images tells real from synthetic")
    audit.add_argument("--key", help="answer key: also relate leaks to the truth and search for source names")

    cases = _add_study_action(actions, "cases", cmd_cases,
                              help="list a study's case ids, or a reader's cases in their order and the next one")
    cases.add_argument("--reader", help="reader id: their order, answers and next case")

    answer = _add_study_action(actions, "answer", cmd_answer, help="record one reader's answer for one case")
    answer.add_argument("--reader", required=True, help="reader id")
    answer.add_argument("--case", required=True, help="anonymous case id")
    answer.add_argument("--label", required=True, choices=("real", "synthetic"))
    answer.add_argument("--confidence", required=True, type=_rating, help="confidence in the label, 1-5")
    answer.add_argument("--realism", required=True, type=_rating,
                        help="1-5: how much the case looks like the stated pathology")
    answer.add_argument("--comment", default="", help="free-text comment")
    answer.add_argument("--time-spent", type=float, metavar="SECONDS", help="time spent on the case, if known")

    status = _add_study_action(actions, "status", cmd_status, help="show each reader's progress")

    analyze = _add_study_action(actions, "analyze", cmd_analyze,
                                help="statistics of the answers against the answer key")
    analyze.add_argument("--key", required=True, help="the study's answer key")
    analyze.add_argument("--out", required=True, help="output folder (outside the package)")
    for action in (cases, answer, status, analyze):
        add_study_secret_option(action)


def add_study_secret_option(parser: argparse.ArgumentParser) -> None:
    """``--study-secret FILE``: the organizer's secret that keys the reader journals."""
    parser.add_argument("--study-secret", metavar="FILE",
                        help="file holding the organizer's study secret (e.g. made with 'openssl rand -hex 32'): "
                             "journal lines are then keyed with it, so edits and removed answers are detected; "
                             "use it for every answer of the study")
