"""``gramstyle`` command line: parse, call the library, report. ``main(argv) -> int``.

Options, their defaults and their ranges come from :class:`gramstyle.config.Settings`.
A user error is one line on stderr and exit status 2; an interrupted run writes nothing
and exits 130 (143 for SIGTERM). Every command checks all its inputs with
:mod:`gramstyle.validate` before any work (README, "Bad input"). This module imports
neither torch nor Pillow at import time: commands import what they need.
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
    PRESET_NOTES,
    PRESETS,
    SIDES,
    STEPS,
    Recipe,
    Settings,
    parse_layer_weights,
)
from .errors import GramstyleError, Terminated
from .validate import bounded_int
from .web import serve

PROG = "gramstyle"
#: --save-every's range: 0 (off) to the most steps a run can have.
SAVE_EVERY = (0, 2 * int(STEPS.hi))


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line instead of usage + error."""

    def error(self, message: str) -> typing.NoReturn:
        import re

        message = re.sub(r"'([^']{40})[^']{20,}'", r"'\1...'", message)  # a 9000-digit value
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


def _preset_help(name: str) -> str:
    parts, below = [], 0
    for side, values in PRESETS[name]:
        where = f"up to {side} px" if side < SIDES.hi else f"above {below} px"
        flags = " ".join(f"--{k.replace('_', '-')} {_format_default(v)}" for k, v in values.items())
        parts.append(f"{where}: {flags}")
        below = side
    return f"{name}: {PRESET_NOTES[name]} ({'; '.join(parts)})"


def add_settings_options(parser: argparse.ArgumentParser, **defaults: object) -> None:
    """One ``--option`` per :class:`Settings` field, and ``--preset``.

    ``defaults`` are the command's own defaults (the demo's size). An option left out
    is not set on the namespace (``SUPPRESS``), so :func:`settings_from` can layer
    them: the command's defaults, then the preset's, then the options given.
    """
    hints = typing.get_type_hints(Settings)
    base = Settings(**{k: v for k, v in defaults.items()})  # type: ignore[arg-type]
    parser.set_defaults(settings_defaults=dict(defaults))
    group = parser.add_argument_group("settings")
    group.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=argparse.SUPPRESS,
        help="start from a named set of settings, which depend on --size; options "
        "given beside it win. " + "; ".join(_preset_help(n) for n in PRESETS),
    )
    for f in dataclasses.fields(Settings):
        hint = hints[f.name]
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None -> X
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        kind = typing.get_origin(hint) or hint
        conv = _layers if kind is dict else kind
        default = getattr(base, f.name)
        meta = dict(f.metadata)
        help_text = meta.pop("help", "")
        if (bounds := meta.pop("bounds", None)) is not None:
            help_text += f"; {'each weight in' if kind is dict else 'range'} {bounds}"
        if default is not None:
            help_text += f" (default: {_format_default(default)})"
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=conv,
            default=argparse.SUPPRESS,
            help=help_text,
            metavar=f.name.upper() if "choices" not in meta else None,
            **meta,
        )


def recipe_from(ns: argparse.Namespace) -> Recipe:
    """The command's defaults, then ``--preset``'s settings, then the options given."""
    given = {f.name: getattr(ns, f.name) for f in dataclasses.fields(Settings)
             if hasattr(ns, f.name)}  # fmt: skip
    base = Settings(**getattr(ns, "settings_defaults", {}))
    return Recipe(base, getattr(ns, "preset", None), given)


def settings_from(ns: argparse.Namespace) -> Settings:
    """The settings of a command's options (:func:`recipe_from`)."""
    return recipe_from(ns).settings()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Neural style transfer (Gatys et al.): repaint a "
        "photo in the style of a painting, offline.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
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
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help="save the run's state to OUTPUT.ckpt every N steps, and when interrupted "
        "(Ctrl-C, SIGTERM); continue it with --resume",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUTPUT.ckpt (same inputs and settings) if it exists; the "
        "checkpoint is removed once the output is written",
    )
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
    serve.add_parser(sub)
    from .video import cli as video_cli  # torch-free; PyAV/OpenCV load when a video runs

    video_cli.add_parser(sub)
    from .batch.command import add_parser as add_batch_parser

    add_batch_parser(sub)
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
    add_settings_options(e, **EXPLAIN_DEFAULTS)


def _common_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--save-every",
        type=bounded_int(*SAVE_EVERY, "save every"),
        default=0,
        metavar="N",
        help="also write the image every N steps as OUTPUT_stepNNNN.EXT (removed again "
        f"if the run fails or is interrupted); range [{SAVE_EVERY[0]}, {SAVE_EVERY[1]}]",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _snapshot_path(output: Path, done: int) -> Path:
    return output.with_name(f"{output.stem}_step{done:04d}{output.suffix}")


def _run(content, styles, output: Path, ns: argparse.Namespace, blend=None, masks=None) -> int:
    from . import validate
    from .pyramid import schedule

    settings = settings_from(ns)
    total = sum(sc.steps for sc in schedule(settings))  # an upper bound: small scales may drop
    snapshots = range(ns.save_every, total, ns.save_every) if ns.save_every else range(0)
    validate.stylize_inputs(
        settings, content, styles, ns.output, masks=masks, blend=blend, overwrite=ns.overwrite,
        snapshots=[_snapshot_path(output, k) for k in snapshots],
    )  # fmt: skip
    from .image import save_image  # torch: only once the inputs are known to be good
    from .pipeline import stylize_iter
    from .progress import ProgressBar

    # AdaIN is one step: no bar, the closing line says how long it took. The bar opens
    # when the plan is known (it prints the plan's estimate), so bad input shows none.
    bar = ProgressBar(disable=ns.quiet or settings.method == "adain")
    on_plan, on_tile = (None, None) if ns.quiet else (bar.plan, bar.tile)
    every, resume = getattr(ns, "checkpoint_every", 0), getattr(ns, "resume", False)
    ck = None
    if (every or resume) and settings.method == "gatys":
        from .checkpoint import Checkpointed, checkpoint_path
        from .session import Stylizer

        st = Stylizer(settings)
        prep = st.prepare(content, styles, blend=blend, masks=masks)
        plan = st.plan(prep)
        ckpt = checkpoint_path(output)
        ck = Checkpointed(st, prep, ckpt, every, resume=resume, overwrite=ns.overwrite,
                          plan=plan, on_tile=on_tile)  # fmt: skip
        if ck.resumed_from is not None:
            print(f"{PROG}: resuming from step {ck.resumed_from[0]} of {ck.resumed_from[1]} "
                  f"({ckpt})", file=sys.stderr)  # fmt: skip
        elif resume:
            print(f"{PROG}: no checkpoint at {ckpt}; starting from step 0", file=sys.stderr)
        if on_plan is not None:
            on_plan(plan, st.estimate(prep, plan))
        records = iter(ck)
    else:
        records = stylize_iter(content, styles, settings, blend=blend, masks=masks,
                               on_plan=on_plan, on_tile=on_tile)  # fmt: skip
    last = None
    guard = validate.ResultGuard()
    written: list[Path] = []  # snapshots: removed again if the run does not finish
    try:
        for rec in records:
            if last is None:
                for note in rec.notes:
                    print(f"{PROG}: note: {note}", file=sys.stderr)
            bar.update(rec)
            guard(rec)
            if ns.save_every and rec.done % ns.save_every == 0 and rec.done < rec.total:
                written.append(save_image(rec.image, _snapshot_path(output, rec.done), True))
            last = rec
        if last is None:
            raise GramstyleError("nothing to do: --steps and --coarse-steps are 0")
        save_image(last.image, output, overwrite=ns.overwrite)
        if ck is not None:
            ck.finish()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (errors.Terminated)
        for p in written:
            p.unlink(missing_ok=True)
        bar.close()
        if ck is not None and ck.save() is not None:
            print(f"{PROG}: checkpoint saved at step {ck.saved_at}: {ck.path} "
                  "(continue with --resume)", file=sys.stderr)  # fmt: skip
        raise
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
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
    from . import validate
    from .demo import demo_content, demo_style

    settings_from(ns)  # options and output before the style is drawn (about 1.5 s)
    validate.output_file(ns.output, ns.overwrite)
    output = Path(ns.output)
    code = _run(demo_content(), demo_style(), output, ns)
    print(output.resolve())
    return code


def cmd_explain(ns: argparse.Namespace) -> int:
    import time

    from . import validate

    settings = settings_from(ns)
    validate.explain_inputs(settings, ns.content, ns.style, ns.output, ns.overwrite)
    from .progress import ExplainProgressBar  # torch and matplotlib: once inputs are good
    from .report import command_line, explain

    command = command_line(ns.content, ns.style, ns.output, settings, ns.layer_size, ns.layer_steps)
    bar = ExplainProgressBar(disable=ns.quiet)
    guard = validate.ResultGuard()

    def progress(step) -> None:  # an insight.ExplainStep
        bar.update(step)
        guard(step.record, step.phase)  # a diverged run raises before the report is written

    t0 = time.perf_counter()
    try:
        out = explain(
            ns.content,
            ns.style,
            ns.output,
            settings,
            layer_size=ns.layer_size,
            layer_steps=ns.layer_steps,
            callback=progress,
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


def _video_command(ns: argparse.Namespace) -> int:
    from .video.cli import command

    return command(ns)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 user error, 130 Ctrl-C, 143 SIGTERM).

    Dependencies' warnings are silenced for the run (only our lines reach the
    terminal); an out-of-memory error is a user error; anything else unexpected is one
    line and exit 1 (``GRAMSTYLE_DEBUG=1`` shows the traceback).
    """
    import os
    import signal
    import warnings

    # SIGTERM unwinds like Ctrl-C (finally blocks run, temporaries go) instead of killing us.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ns = build_parser().parse_args(argv)
            commands = {
                "stylize": cmd_stylize, "demo": cmd_demo, "explain": cmd_explain,
                "serve": serve.command, "video": _video_command,
            }  # fmt: skip
            command = getattr(ns, "func", None) or commands[ns.command]  # subcommand modules
            return command(ns)
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
        from .validate import out_of_memory

        if os.environ.get("GRAMSTYLE_DEBUG"):
            raise
        if out_of_memory(e):
            print(f"{PROG}: error: out of memory; lower --size (no output written)",
                  file=sys.stderr)  # fmt: skip
            return 2
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        print(f"{PROG}: error: internal error ({type(e).__name__}: {detail}); no output "
              "written; please report it (GRAMSTYLE_DEBUG=1 shows the traceback)",
              file=sys.stderr)  # fmt: skip
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def entry() -> None:
    """Console-script entry point (see :func:`gramstyle.__main__.entry`)."""
    from .__main__ import entry as run

    run()
