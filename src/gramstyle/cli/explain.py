"""``gramstyle explain``: write the HTML report of what the style matrices capture."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..fs import output_dir
from ..insight import DEFAULT_OUTPUT, MARKER
from ..presets import EXPLAIN, EXPLAIN_LAYER_SIZE, EXPLAIN_LAYER_STEPS
from ..ranges import SIDES, STEPS
from ..request import check_request
from .options import add_settings_options, bounded_int, settings_from


def add_parser(sub: Any) -> None:
    e = sub.add_parser(
        "explain",
        help="write an HTML report of what the style matrices capture",
        description="Stylise CONTENT like STYLE (small and fast by default) and write a "
        "report folder: the style matrices G[l](S) and G[l](G) of every style layer, "
        "strongly and weakly correlated channel pairs, the cost curves, the style of "
        "each layer alone, and the command that makes the report again.",
    )
    e.add_argument("content", metavar="CONTENT", help="the photo to repaint")
    e.add_argument("style", metavar="STYLE", help="the style image")
    e.add_argument(
        "-o",
        "--output",
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help=f"report folder, made whole or not at all (default: {DEFAULT_OUTPUT})",
    )
    e.add_argument(
        "--layer-size",
        type=bounded_int(int(SIDES.lo), 4096, "layer size"),
        default=EXPLAIN_LAYER_SIZE,
        metavar="N",
        help="longest side of each 'style from one layer alone' image; range "
        f"[{SIDES.lo:g}, 4096] (default: {EXPLAIN_LAYER_SIZE})",
    )
    e.add_argument(
        "--layer-steps",
        type=bounded_int(int(STEPS.lo), int(STEPS.hi), "layer steps"),
        default=EXPLAIN_LAYER_STEPS,
        metavar="N",
        help=f"steps of each one-layer run; 0 leaves that section out; range {STEPS} "
        f"(default: {EXPLAIN_LAYER_STEPS})",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_settings_options(e, **EXPLAIN)
    e.set_defaults(func=command)


def command(ns: argparse.Namespace) -> int:
    settings = settings_from(ns)
    output_dir(ns.output, ns.overwrite, marker=MARKER, kind="gramstyle report")
    check_request(ns.content, [ns.style])
    # torch and matplotlib load only once the files are known to be good.
    from ..insight.report import command_line, explain
    from ..progress import ExplainProgressBar

    command = command_line(ns.content, ns.style, ns.output, settings, ns.layer_size, ns.layer_steps)
    bar = ExplainProgressBar(disable=ns.quiet)
    t0 = time.perf_counter()
    try:
        out = explain(
            ns.content,
            ns.style,
            ns.output,
            settings,
            layer_size=ns.layer_size,
            layer_steps=ns.layer_steps,
            callback=bar.update,
            overwrite=ns.overwrite,
            command=command,
        )
    finally:
        bar.close()
    if not ns.quiet:
        print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print((out / "index.html").resolve())
    return 0
