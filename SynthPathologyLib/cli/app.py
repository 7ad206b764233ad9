"""The ``synthpathology app`` command: the browser front end (needs the ``web`` extra).

trame is imported inside the command only, so the rest of the command line works without it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from ..core.allocator import keep_freed_memory
from ..core.errors import SynthPathologyError
from .options import add_command, add_generator_options, add_pathology_option
from .turing import add_study_secret_option, open_study

USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A lesion-mode user id: it names the user's data folder, so no path separators."""


def cmd_app(args: argparse.Namespace) -> int:
    # SIGINT stops a server (and a supervisor its servers), even when started from a background job,
    # where it arrives ignored and Python would leave it so.
    """Serve 3D Slicer's views and the SynthPathology workflow to a web browser (trame-slicer). Lesion
    mode opens the default brain, --case, or a case uploaded in the page; reading mode (--reading PKG
    --reader ID) shows a study's cases blinded, with the answer form. Every run prints a link with a
    fresh access token: the app answers only requests that carry it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    readers = _ids(args.reader, args.readers, "reader")
    users = _ids(args.user, args.users, "user")
    if (args.reading is None) != (not readers):
        raise SynthPathologyError("--reading goes with --reader ID (or --readers A,B,C): give both or neither")
    if args.reading is not None and (args.case is not None or args.label_library is not None
                                     or args.pathology is not None or users):
        raise SynthPathologyError("--case, --label-library, --pathology and --user(s) are for lesion mode; reading mode "
                                  "shows the study's cases to --reader(s)")
    for user in users:
        if not USER_ID.fullmatch(user):
            raise SynthPathologyError(f"user id {user!r}: use letters, digits, '_', '-' or '.' (at most 64)")
    if len(readers) > 1:
        return serve_separately(args, "reader", readers, _reading_arguments(args))
    if len(users) > 1:
        return serve_separately(args, "user", users, _lesion_arguments(args))
    try:
        from ..web.access import TOKEN_ENVIRONMENT, is_loopback
        from ..web.app import AppOptions, create_lesion_app, create_reading_app
    except ImportError as exc:
        raise SynthPathologyError(
            f"the app needs the web extra: pip install \"SynthPathologyLib[web]\" ({exc})") from None
    from ..web.uploads import UploadLimits

    keep_freed_memory()  # whole-volume buffers are reused from click to click
    identity = (readers or users or ["user"])[0]
    options = AppOptions(host=args.host, port=args.port, data_dir=args.data, resolution_mm=float(args.resolution),
                         model=args.model, device=args.device, pathology=args.pathology,
                         label_library=args.label_library,
                         limits=UploadLimits(max_file_mb=args.max_upload_mb, max_decoded_mb=args.max_decoded_mb),
                         token=os.environ.pop(TOKEN_ENVIRONMENT, None), identity=identity)
    if readers:
        from ..turing.session import open_session

        app = create_reading_app(options, open_session(open_study(args.reading, args.study_secret), readers[0]))
    else:
        case = None
        if args.case is not None:
            from ..io.brats import read_brats_case

            case = read_brats_case(args.case)  # a bad folder fails here, before the server starts
        app = create_lesion_app(options, case)
    who = f"reader {identity}" if readers else (f"user {identity}" if users else "this link")
    print(f"SynthPathology app: {who}: open {app.access.link()} in a browser (Ctrl-C stops it)", flush=True)
    if not is_loopback(args.host):
        print(f"note: listening on {args.host}, beyond this machine: anyone who reaches port {args.port} and has the "
              "link (its access token) can use the app; give each link only to its user", flush=True)
    app.start()
    return 0


def _ids(one: str | None, several: str | None, kind: str) -> list[str]:
    """The ids of ``--KIND ID`` or ``--KINDs A,B,C`` (empty when neither is given)."""
    if one is not None and several is not None:
        raise SynthPathologyError(f"give --{kind} ID or --{kind}s A,B,C, not both")
    ids = [one] if one is not None else [i.strip() for i in (several or "").split(",") if i.strip()]
    if len(set(ids)) != len(ids):
        raise SynthPathologyError(f"{kind} ids must be distinct, got {', '.join(ids)}")
    return ids


def _reading_arguments(args: argparse.Namespace):
    """A reader's server's arguments, checking the study once, before any server starts."""
    package = open_study(args.reading, args.study_secret)  # a bad package or secret fails here, once
    for reader in _ids(args.reader, args.readers, "reader"):
        package.check_reader(reader)  # an unknown reader fails here
    passed = ["--reading", str(args.reading)]
    if args.study_secret is not None:
        passed += ["--study-secret", str(args.study_secret)]
    return lambda reader: [*passed, *_data_option(args, reader), "--reader", reader]


def _lesion_arguments(args: argparse.Namespace):
    """A lesion-mode user's server's arguments (a bad --case fails in every child alike)."""
    passed = ["--max-upload-mb", str(args.max_upload_mb), "--max-decoded-mb", str(args.max_decoded_mb),
              "--device", args.device]
    for option, value in (("--case", args.case), ("--model", args.model), ("--pathology", args.pathology),
                          ("--label-library", args.label_library)):
        if value is not None:
            passed += [option, str(value)]
    return lambda user: [*passed, *_data_option(args, user), "--user", user]


def _data_option(args: argparse.Namespace, identity: str) -> list[str]:
    """Each server's own data folder: DATA/<id> (uploads and downloads are never shared), or a
    temporary folder of its own."""
    return ["--data", str(Path(args.data) / identity)] if args.data is not None else []


def serve_separately(args: argparse.Namespace, kind: str, ids: list[str], arguments) -> int:
    """One server per reader or user, on ports PORT, PORT+1, ...: a trame server's state, views and
    scene are shared by all its pages, so each gets a process (scene, uploads, journal lock) of
    their own, reached only with their own link. ``arguments(id)`` gives that server's own
    options. Ctrl-C stops them all."""
    from ..web.access import TOKEN_ENVIRONMENT, Access

    common = ["--host", args.host, "--resolution", str(args.resolution)]
    children = []
    try:
        for index, identity in enumerate(ids):
            access = Access(args.host, args.port + index, identity=identity)
            command = [sys.executable, "-m", "SynthPathologyLib", "app", *common, *arguments(identity),
                       "--port", str(access.port)]
            children.append(subprocess.Popen(command, env={**os.environ, TOKEN_ENVIRONMENT: access.token},
                                             stdout=subprocess.DEVNULL))
            print(f"{kind} {identity}: {access.link()}", flush=True)
        print(f"SynthPathology app: give each {kind} only their own link (Ctrl-C stops all)", flush=True)
        for child in children:
            child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [identity for identity, child in zip(ids, children) if child.returncode not in (0, -signal.SIGINT)]
    if failed:
        raise SynthPathologyError(f"the server of {kind}(s) {', '.join(failed)} stopped with an error (see above)")
    return 0


def add_app_command(commands: argparse._SubParsersAction) -> None:
    """Add ``app`` to the top-level subcommands of ``synthpathology``."""
    app = add_command(commands, "app", cmd_app,
                      help="the browser front end: lesion synthesis, or a Turing-test reading session")
    app.add_argument("--case", type=Path, help="BraTS case folder to open (default: the built-in default brain)")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes the app to "
                          "the network, still only to holders of the link)")
    app.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    app.add_argument("--reading", type=Path, metavar="PKG", help="Turing-test study package to read")
    app.add_argument("--reader", metavar="ID", help="reader id of the reading session")
    app.add_argument("--readers", metavar="A,B,C",
                     help="several readers of one study: one server each, on ports PORT, PORT+1, ..., and a link "
                          "of their own (each reads only as themselves)")
    app.add_argument("--user", metavar="ID", help="lesion mode: who this server is for (shown in its log)")
    app.add_argument("--users", metavar="A,B,C",
                     help="lesion mode for several people: one server each, on ports PORT, PORT+1, ..., with a link "
                          "and a data folder (DIR/ID) of their own: no one sees another's uploads or results")
    app.add_argument("--data", type=Path, metavar="DIR",
                     help="the app's data folder for uploads and downloads (default: a temporary folder); with "
                          "--readers or --users each server gets DIR/ID")
    app.add_argument("--label-library", type=Path, metavar="DIR",
                     help="lesion mode: a folder of segmentations (any grid; BraTS 2021 or 2023 values); the page "
                          "then offers each file's lesion, by name, instead of the parametric one, placed at the "
                          "seed and scaled to its size")
    app.add_argument("--resolution", type=int, choices=(1, 2), default=1,
                     help="voxel size of the default brain in mm (default 1; 2 starts faster)")
    app.add_argument("--max-upload-mb", type=float, default=64.0, help="largest uploaded file in MB (default 64)")
    app.add_argument("--max-decoded-mb", type=float, default=512.0,
                     help="largest image an upload may decode to, in MB, from its header (default 512)")
    add_generator_options(app)
    add_pathology_option(app)  # lesion mode: the pathology the page opens with; its chooser switches it
    add_study_secret_option(app)  # reading mode
