"""``gramstyle`` command line: parse, call the library, report. ``main(argv) -> int``.

Options and their defaults come from :class:`gramstyle.config.Settings`. A user error
is one line on stderr and exit status 2; an interrupted run writes nothing and exits 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from .config import (
    DEMO_DEFAULTS,
    EXPLAIN_DEFAULTS,
    EXPLAIN_LAYER_SIZE,
    EXPLAIN_LAYER_STEPS,
    EXPLAIN_OUTPUT,
    Settings,
    parse_layer_weights,
)
from .errors import GramstyleError, Terminated

PROG = "gramstyle"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line instead of usage + error."""

    def error(self, message: str) -> typing.NoReturn:
        raise GramstyleError(f"{message} (see {self.prog} --help)")


def _layers(text: str) -> dict[str, float]:
    try:
        return parse_layer_weights(text)
    except GramstyleError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from None


def _format_default(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v:g}" for k, v in value.items())
    return str(value)


def add_settings_options(parser: argparse.ArgumentParser, **defaults: object) -> None:
    """One ``--option`` per :class:`Settings` field; ``defaults`` override the shown default."""
    hints = typing.get_type_hints(Settings)
    base = Settings(**{k: v for k, v in defaults.items()})  # type: ignore[arg-type]
    group = parser.add_argument_group("settings")
    for f in dataclasses.fields(Settings):
        hint = hints[f.name]
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None -> X
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        kind = typing.get_origin(hint) or hint
        conv = _layers if kind is dict else kind
        default = getattr(base, f.name)
        meta = dict(f.metadata)
        help_text = meta.pop("help", "")
        if default is not None:
            help_text += f" (default: {_format_default(default)})"
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=conv,
            default=default,
            help=help_text,
            metavar=f.name.upper() if "choices" not in meta else None,
            **meta,
        )


def settings_from(ns: argparse.Namespace) -> Settings:
    return Settings(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(Settings)})


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Neural style transfer (Gatys et al.): repaint a "
        "photo in the style of a painting, offline.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "stylize",
        help="stylise CONTENT in the style of STYLE",
        description="Optimise an image whose VGG19 features match CONTENT's "
        "content and STYLE's style matrices.",
    )
    p.add_argument("content", metavar="CONTENT", help="the photo to repaint")
    p.add_argument("styles", metavar="STYLE", nargs="+", help="one or more style images")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, ...)")
    p.add_argument(
        "--style-blend",
        type=_floats,
        default=None,
        metavar="W1,W2,...",
        help="weights of several styles' targets, not negative, normalised to sum 1 "
        "(default: equal)",
    )
    p.add_argument(
        "--mask",
        dest="masks",
        action="append",
        default=None,
        metavar="MASK",
        help="a grey image per style, in order (white: that style's region; grey: a soft "
        "blend); repeat once per STYLE",
    )
    _common_run_options(p)
    add_settings_options(p)

    d = sub.add_parser(
        "demo",
        help="stylise a built-in example and write the result",
        description="Stylise a photo shipped with matplotlib (Grace Hopper) "
        "in a built-in procedural swirl style, and print where it was written.",
    )
    d.add_argument(
        "-o",
        "--output",
        default="gramstyle_demo.png",
        help="output image (default: gramstyle_demo.png)",
    )
    _common_run_options(d)
    add_settings_options(d, **DEMO_DEFAULTS)
    _add_explain(sub)
    return parser


def _add_explain(sub) -> None:
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
        default=EXPLAIN_OUTPUT,
        metavar="DIR",
        help=f"report folder, made whole or not at all (default: {EXPLAIN_OUTPUT})",
    )
    e.add_argument(
        "--layer-size",
        type=int,
        default=EXPLAIN_LAYER_SIZE,
        metavar="N",
        help="longest side of each 'style from one layer alone' image "
        f"(default: {EXPLAIN_LAYER_SIZE})",
    )
    e.add_argument(
        "--layer-steps",
        type=int,
        default=EXPLAIN_LAYER_STEPS,
        metavar="N",
        help=f"steps of each one-layer run; 0 leaves that section out "
        f"(default: {EXPLAIN_LAYER_STEPS})",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_settings_options(e, **EXPLAIN_DEFAULTS)


def _common_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also write the image every N steps as OUTPUT_stepNNNN.EXT",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _snapshot_path(output: Path, done: int) -> Path:
    return output.with_name(f"{output.stem}_step{done:04d}{output.suffix}")


def _run(content, styles, output: Path, ns: argparse.Namespace, blend=None, masks=None) -> int:
    from .image import check_writable, save_image
    from .pipeline import stylize_iter
    from .progress import ProgressBar
    from .pyramid import schedule

    settings = settings_from(ns)
    check_writable(output, ns.overwrite)
    if ns.save_every < 0:
        raise GramstyleError("--save-every must be positive")
    total = sum(sc.steps for sc in schedule(settings))  # an upper bound: small scales may drop
    snapshots = range(ns.save_every, total, ns.save_every) if ns.save_every else range(0)
    for k in snapshots:
        check_writable(_snapshot_path(output, k), ns.overwrite)

    bar = None  # created at the first step, so a bad input prints no empty bar
    last = None
    try:
        for rec in stylize_iter(content, styles, settings, blend=blend, masks=masks):
            if bar is None:
                for note in rec.notes:
                    print(f"{PROG}: note: {note}", file=sys.stderr)
            # AdaIN is one step: no bar, the closing line says how long it took.
            bar = bar or ProgressBar(rec.total, disable=ns.quiet or settings.method == "adain")
            bar.update(rec)
            if ns.save_every and rec.done % ns.save_every == 0 and rec.done < rec.total:
                save_image(rec.image, _snapshot_path(output, rec.done), overwrite=True)
            last = rec
    finally:
        if bar is not None:
            bar.close()
    if last is None:
        raise GramstyleError("nothing to do: --steps and --coarse-steps are 0")
    save_image(last.image, output, overwrite=ns.overwrite)
    if not ns.quiet and settings.method == "adain":
        print(f"wrote {output} ({last.size[1]}x{last.size[0]}, adain, {last.elapsed:.1f} s)",
              file=sys.stderr)  # fmt: skip
    elif not ns.quiet:
        print(
            f"wrote {output} ({last.size[1]}x{last.size[0]}, {last.total} steps, "
            f"{last.elapsed:.1f} s, J={last.best:.4g})",
            file=sys.stderr,
        )
    return 0


def cmd_stylize(ns: argparse.Namespace) -> int:
    return _run(ns.content, ns.styles, Path(ns.output), ns, blend=ns.style_blend, masks=ns.masks)


def cmd_demo(ns: argparse.Namespace) -> int:
    from .demo import demo_content, demo_style

    output = Path(ns.output)
    code = _run(demo_content(), demo_style(), output, ns)
    print(output.resolve())
    return code


def cmd_explain(ns: argparse.Namespace) -> int:
    import time

    from .progress import ExplainProgressBar
    from .report import check_report_dir, command_line, explain

    settings = settings_from(ns)
    check_report_dir(ns.output, ns.overwrite)
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


def _raise_terminated(signum, frame) -> typing.NoReturn:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 user error, 130 Ctrl-C, 143 SIGTERM)."""
    import signal

    # SIGTERM unwinds like Ctrl-C (finally blocks run, temporaries go) instead of killing us.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        ns = build_parser().parse_args(argv)
        commands = {"stylize": cmd_stylize, "demo": cmd_demo, "explain": cmd_explain}
        return commands[ns.command](ns)
    except GramstyleError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"{PROG}: terminated; no output written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
