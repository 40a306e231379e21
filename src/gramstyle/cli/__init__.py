"""``gramstyle`` command line: parse, call the library, report. ``main(argv) -> int``.

Every command is a module here (``stylize``/``demo``, ``explain``, ``video``, ``batch``,
``serve``), its options made from the library's settings (:mod:`.options`). A user
error is one line on stderr and exit status 2; an interrupted run writes nothing and
exits 130 (143 for SIGTERM). Importing this package imports neither torch nor Pillow:
commands import what they need once their inputs are checked.
"""

from __future__ import annotations

import os
import signal
import sys
import typing
import warnings
from collections.abc import Sequence

from ..errors import GramstyleError, Terminated, out_of_memory
from . import batch, explain, serve, stylize, video
from .options import Parser

PROG = "gramstyle"


def build_parser() -> Parser:
    from .. import __version__

    parser = Parser(
        prog=PROG,
        description="Neural style transfer (Gatys et al.): repaint a "
        "photo in the style of a painting, offline.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    stylize.add_parsers(sub)
    explain.add_parser(sub)
    serve.add_parser(sub)
    video.add_parser(sub)
    batch.add_parser(sub)
    return parser


def _raise_terminated(signum: int, frame: object) -> typing.NoReturn:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 user error, 130 Ctrl-C, 143 SIGTERM).

    Dependencies' warnings are silenced for the run (only our lines reach the
    terminal); an out-of-memory error is a user error; anything else unexpected is one
    line and exit 1 (``GRAMSTYLE_DEBUG=1`` shows the traceback).
    """
    # SIGTERM unwinds like Ctrl-C (finally blocks run, temporaries go) instead of killing us.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ns = build_parser().parse_args(argv)
            return ns.func(ns)
    except GramstyleError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"{PROG}: terminated; no output written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - never a traceback on the user's terminal
        if os.environ.get("GRAMSTYLE_DEBUG"):
            raise
        if out_of_memory(e):
            print(
                f"{PROG}: error: out of memory; lower --size (no output written)", file=sys.stderr
            )
            return 2
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        print(
            f"{PROG}: error: internal error ({type(e).__name__}: {detail}); no output "
            "written; please report it (GRAMSTYLE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
