"""``tunesmith studio``: compose, listen and steer in the browser (a local web server)."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from tunesmith.errors import TunesmithError

DEFAULT_ROOTS = ("out", "runs")


def cmd_studio(args: argparse.Namespace) -> int:
    """Find the runs, start the server, print its URL; Ctrl-C stops it."""
    import uvicorn

    from tunesmith.studio.app import Studio, create_app
    from tunesmith.studio.engine import find_runs

    roots = [Path(p) for p in (args.paths or DEFAULT_ROOTS)]
    missing = [str(p) for p in roots if not p.is_dir()]
    if args.paths and missing:
        raise TunesmithError(f"not a folder: {', '.join(missing)}")
    runs = find_runs(roots)
    if not runs:
        where = ", ".join(str(p) for p in roots)
        raise TunesmithError(f"no trained run under {where} (train one, or `make demo`, then try again)")
    if not 0 <= args.port < 65536:
        raise TunesmithError(f"--port must be between 0 and 65535, got {args.port}")
    try:
        with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
            probe.bind((args.host, args.port))
    except OSError as exc:
        raise TunesmithError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    from tunesmith.devices import pick_device

    pick_device(args.device)  # a missing CUDA or MPS is one line now, not an error in every job
    studio = Studio(roots, max_upload=int(args.max_upload * 1024 * 1024), device=args.device)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"tunesmith studio: {len(runs)} run(s) under {', '.join(str(p) for p in roots)}; starting", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can use the studio")

    def ready() -> None:
        print(f"open http://{host}:{args.port}/  (Ctrl-C stops)", flush=True)

    uvicorn.run(create_app(studio, on_start=ready), host=args.host, port=args.port, log_level="warning")
    print("tunesmith studio: stopped")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``studio`` to the command line."""
    p = sub.add_parser(
        "studio",
        help="compose, listen and steer in the browser",
        description="Start a local web server to generate from trained runs, see and hear the results, continue "
        "them and download MIDI/WAV/ABC/MusicXML. Runs are looked for in the folders given (default: out/ and "
        "runs/); nothing outside them can be loaded.",
    )
    p.add_argument("paths", nargs="*", metavar="RUN_DIR|DIR", help="run directories or folders holding runs")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to generate: auto (CUDA, then Apple MPS, then the CPU; the default), cpu, cuda or mps",
    )
    p.add_argument("--max-upload", type=float, default=2.0, metavar="MB", help="largest primer upload (default 2)")
    p.set_defaults(func=cmd_studio)
