"""The ``synthpathology app`` command: the browser front end (needs the ``web`` extra).

trame is imported inside the command only, so the rest of the command line works without it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from ..core.allocator import keep_freed_memory
from ..core.errors import SynthPathologyError
from .options import add_generator_options
from .turing import add_study_secret_option, open_study


def cmd_app(args: argparse.Namespace) -> int:
    readers = _readers(args)
    if args.reading is not None and args.case is not None:
        raise SynthPathologyError("--case is for lesion mode; reading mode shows the study's cases")
    if len(readers) > 1:
        return serve_readers(args, readers)
    try:
        from ..web.access import TOKEN_ENVIRONMENT, is_loopback
        from ..web.app import AppOptions, create_lesion_app, create_reading_app
    except ImportError as exc:
        raise SynthPathologyError(
            f"the app needs the web extra: pip install \"SynthPathologyLib[web]\" ({exc})") from None
    from ..web.uploads import UploadLimits

    keep_freed_memory()  # whole-volume buffers are reused from click to click
    options = AppOptions(host=args.host, port=args.port, data_dir=args.data, resolution_mm=float(args.resolution),
                         model=args.model, device=args.device,
                         limits=UploadLimits(max_file_mb=args.max_upload_mb, max_decoded_mb=args.max_decoded_mb),
                         token=os.environ.pop(TOKEN_ENVIRONMENT, None), identity=readers[0] if readers else "user")
    if readers:
        from ..turing.session import open_session

        app = create_reading_app(options, open_session(open_study(args.reading, args.study_secret), readers[0]))
    else:
        case = None
        if args.case is not None:
            from ..io.brats import read_brats_case

            case = read_brats_case(args.case)  # a bad folder fails here, before the server starts
        app = create_lesion_app(options, case)
    who = f"reader {readers[0]}" if readers else "this link"
    print(f"SynthPathology app: {who}: open {app.access.link()} in a browser (Ctrl-C stops it)", flush=True)
    if not is_loopback(args.host):
        print(f"note: listening on {args.host}, beyond this machine: anyone who reaches port {args.port} and has the "
              "link (its access token) can use the app; give each link only to its user", flush=True)
    app.start()
    return 0


def _readers(args: argparse.Namespace) -> list[str]:
    """The reader ids of reading mode (empty in lesion mode), from --reader or --readers."""
    if args.reader is not None and args.readers is not None:
        raise SynthPathologyError("give --reader ID or --readers A,B,C, not both")
    readers = [args.reader] if args.reader is not None else [r.strip() for r in (args.readers or "").split(",")
                                                               if r.strip()]
    if (args.reading is None) != (not readers):
        raise SynthPathologyError("--reading goes with --reader ID (or --readers A,B,C): give both or neither")
    if len(set(readers)) != len(readers):
        raise SynthPathologyError(f"reader ids must be distinct, got {', '.join(readers)}")
    return readers


def serve_readers(args: argparse.Namespace, readers: list[str]) -> int:
    """One reading server per reader, on ports PORT, PORT+1, ...: a trame server's state and views
    are shared by all its pages, so each reader gets a process (and scene, and journal lock) of
    their own, reached only with their own link. Ctrl-C stops them all."""
    from ..web.access import TOKEN_ENVIRONMENT, Access

    package = open_study(args.reading, args.study_secret)  # a bad package or secret fails here, once
    for reader in readers:
        package.check_reader(reader)  # an unknown reader fails here, before any server starts
    passed = ["--reading", str(args.reading), "--host", args.host, "--resolution", str(args.resolution)]
    for option, value in (("--data", args.data), ("--study-secret", args.study_secret)):
        if value is not None:
            passed += [option, str(value)]
    children = []
    try:
        for index, reader in enumerate(readers):
            access = Access(args.host, args.port + index, identity=reader)
            command = [sys.executable, "-m", "SynthPathologyLib", "app", *passed, "--reader", reader,
                       "--port", str(access.port)]
            children.append(subprocess.Popen(command, env={**os.environ, TOKEN_ENVIRONMENT: access.token},
                                             stdout=subprocess.DEVNULL))
            print(f"reader {reader}: {access.link()}", flush=True)
        print("SynthPathology reading study: give each reader only their own link (Ctrl-C stops all)", flush=True)
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
    failed = [reader for reader, child in zip(readers, children) if child.returncode not in (0, -signal.SIGINT)]
    if failed:
        raise SynthPathologyError(f"the server of reader(s) {', '.join(failed)} stopped with an error (see above)")
    return 0


def add_app_command(commands: argparse._SubParsersAction) -> None:
    """Add ``app`` to the top-level subcommands of ``synthpathology``."""
    app = commands.add_parser(
        "app", help="the browser front end: lesion synthesis, or a Turing-test reading session",
        description="Serve 3D Slicer's views and the SynthPathology workflow to a web browser (trame-slicer). "
                    "Lesion mode opens the default brain, --case, or a case uploaded in the page; reading mode "
                    "(--reading PKG --reader ID) shows a study's cases blinded, with the answer form. Every run prints "
                    "a link with a fresh access token: the app answers only requests that carry it.")
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
    app.add_argument("--data", type=Path, metavar="DIR",
                     help="the app's data folder for uploads and downloads (default: a temporary folder)")
    app.add_argument("--resolution", type=int, choices=(1, 2), default=1,
                     help="voxel size of the default brain in mm (default 1; 2 starts faster)")
    app.add_argument("--max-upload-mb", type=float, default=64.0, help="largest uploaded file in MB (default 64)")
    app.add_argument("--max-decoded-mb", type=float, default=512.0,
                     help="largest image an upload may decode to, in MB, from its header (default 512)")
    add_generator_options(app)
    add_study_secret_option(app)  # reading mode
    app.set_defaults(run=cmd_app)
