"""The ``tunesmith`` command: parses arguments, builds configs, calls library functions; nothing else.

One module per group of subcommands, each with a ``register(sub)`` that adds its parsers. The parsers are built from
light config modules only (no torch, numpy or symusic: ``tests/test_startup.py``); a command imports the library it
runs inside its ``cmd_*`` function, so ``--help`` and ``prepare`` never load torch.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tunesmith import __version__
from tunesmith.cli import evaluate, generate, prepare, run, studio, train
from tunesmith.cli.common import Parser
from tunesmith.errors import TunesmithError


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = Parser(prog="tunesmith", description="Learn to compose music from a corpus of symbolic music.")
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (prepare, train, generate, evaluate, run, studio):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tunesmith`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    terminated = []

    def on_term(signum: int, _frame) -> None:  # SIGTERM unwinds like Ctrl-C: workers stop, builds are removed
        terminated.append(signum)
        raise KeyboardInterrupt

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_term) if in_main_thread else None
    try:
        code = args.func(args)
        return 143 if terminated else code  # a command that stopped itself on SIGTERM (prepare) says so
    except TunesmithError as exc:
        print(f"tunesmith: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tunesmith: terminated" if terminated else "tunesmith: interrupted", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a path that cannot be written (a file where a folder should be, a full disk)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"tunesmith: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
