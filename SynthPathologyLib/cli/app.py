"""The ``synthpathology app`` command: the browser front end (needs the ``web`` extra).

trame is imported inside the command only, so the rest of the command line works without it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.allocator import keep_freed_memory
from ..core.errors import SynthPathologyError


def cmd_app(args: argparse.Namespace) -> int:
    if (args.reading is None) != (args.reader is None):
        raise SynthPathologyError("--reading and --reader go together: give both or neither")
    if args.reading is not None and args.case is not None:
        raise SynthPathologyError("--case is for lesion mode; reading mode shows the study's cases")
    try:
        from ..web.app import AppOptions, create_lesion_app, create_reading_app
    except ImportError as exc:
        raise SynthPathologyError(f"the app needs the web extra: pip install \"SynthPathologyLib[web]\" ({exc})") from None
    from ..web.uploads import UploadLimits

    keep_freed_memory()  # whole-volume buffers are reused from click to click
    options = AppOptions(host=args.host, port=args.port, data_dir=args.data, resolution_mm=float(args.resolution),
                         model=args.model, device=args.device, limits=UploadLimits(max_file_mb=args.max_upload_mb))
    if args.reading is not None:
        from ..turing.session import open_session

        app = create_reading_app(options, open_session(args.reading, args.reader))
    else:
        case = None
        if args.case is not None:
            from ..io.brats import read_brats_case

            case = read_brats_case(args.case)  # a bad folder fails here, before the server starts
        app = create_lesion_app(options, case)
    print(f"SynthPathology app: open http://{args.host}:{args.port}/ in a browser (Ctrl-C stops it)", flush=True)
    app.start()
    return 0


def add_app_command(commands: argparse._SubParsersAction) -> None:
    """Add ``app`` to the top-level subcommands of ``synthpathology``."""
    app = commands.add_parser(
        "app", help="the browser front end: lesion synthesis, or a Turing-test reading session",
        description="Serve 3D Slicer's views and the SynthPathology workflow to a web browser (trame-slicer). "
                    "Lesion mode opens the default brain, --case, or a case uploaded in the page; reading mode "
                    "(--reading PKG --reader ID) shows a study's cases blinded, with the answer form.")
    app.add_argument("--case", type=Path, help="BraTS case folder to open (default: the built-in default brain)")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes the app)")
    app.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    app.add_argument("--reading", type=Path, metavar="PKG", help="Turing-test study package to read")
    app.add_argument("--reader", metavar="ID", help="reader id of the reading session")
    app.add_argument("--data", type=Path, metavar="DIR",
                     help="the app's data folder for uploads and downloads (default: a temporary folder)")
    app.add_argument("--resolution", type=int, choices=(1, 2), default=1,
                     help="voxel size of the default brain in mm (default 1; 2 starts faster)")
    app.add_argument("--max-upload-mb", type=float, default=64.0, help="largest uploaded file in MB (default 64)")
    app.add_argument("--model", help="model folder (default: the shipped model)")
    app.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu or cuda[:N]")
    app.set_defaults(run=cmd_app)
