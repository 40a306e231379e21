"""``gramstyle stylize`` and ``gramstyle demo``: one picture, with a bar, snapshots and
checkpoints; the picture itself is made by :class:`gramstyle.job.Job`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..checkpoint import Checkpoint, checkpoint_path
from ..errors import GramstyleError
from ..presets import DEMO
from ..ranges import STEPS
from ..request import check_request
from .options import add_settings_options, bounded_int, floats, settings_from

PROG = "gramstyle"
#: --save-every's range: 0 (off) to the most steps a run can have.
SAVE_EVERY = (0, 2 * int(STEPS.hi))


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylise CONTENT in the style of STYLE",
        description="Repaint CONTENT in the style of STYLE: by default an image is "
        "optimised until its VGG19 features match CONTENT's content and STYLE's style "
        "matrices (--method picks another way).",
    )
    p.add_argument("content", metavar="CONTENT", help="the photo to repaint")
    p.add_argument("styles", metavar="STYLE", nargs="+", help="one or more style images")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, ...)")
    p.add_argument(
        "--style-blend",
        type=floats,
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
    p.add_argument(
        "--content-labels",
        default=None,
        metavar="FILE",
        help="the photo's label map: each region painted in one flat colour (sky, trees, "
        "...); with --style-labels, each region takes its look from the style's region "
        "of the same colour (a label the style lacks: the whole style)",
    )
    p.add_argument(
        "--style-labels",
        action="append",
        default=None,
        metavar="FILE",
        help="a style's label map, in the colours of --content-labels; repeat once per STYLE",
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
    p.set_defaults(func=cmd_stylize)

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
    add_settings_options(d, **DEMO)
    d.set_defaults(func=cmd_demo)


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


def run(
    content: Any,
    styles: list[Any],
    output_text: str,
    ns: argparse.Namespace,
    blend: Any = None,
    masks: Any = None,
    labels: tuple[Any, Any] = (None, None),
) -> int:
    """Stylise and write ``output``: check, run with a bar, write (shared by both commands)."""
    output = Path(output_text)
    settings = settings_from(ns)
    # Snapshot names differ only in the step number: the longest one stands for all.
    longest = [_snapshot_path(output, SAVE_EVERY[1])] if ns.save_every else []
    check_request(
        content,
        styles,
        output_text,
        blend=blend,
        masks=masks,
        content_labels=labels[0],
        style_labels=labels[1],
        overwrite=ns.overwrite,
        also_writes=longest,
    )
    # torch loads only now, once the files are known to be good; the rest of the checks
    # (layer names, weights, sizes, memory) come first in the job, before any work.
    from ..image import save_image
    from ..progress import ProgressBar
    from ..session import Stylizer

    job = Stylizer(settings).job(
        content,
        styles,
        blend=blend,
        masks=masks,
        content_labels=labels[0],
        style_labels=labels[1],
    )
    every, resume = getattr(ns, "checkpoint_every", 0), getattr(ns, "resume", False)
    ck = (
        Checkpoint(checkpoint_path(output), every, resume=resume, overwrite=ns.overwrite)
        if every or resume
        else None
    )
    bar = ProgressBar(disable=ns.quiet)

    def on_plan(plan: Any, est: Any) -> None:
        if ck is not None and ck.resumed_from is not None:
            done, total = ck.resumed_from
            print(f"{PROG}: resuming from step {done} of {total} ({ck.path})", file=sys.stderr)
        elif ck is not None and resume:
            print(f"{PROG}: no checkpoint at {ck.path}; starting from step 0", file=sys.stderr)
        if not ns.quiet:
            bar.plan(plan, est)

    written: list[Path] = []  # snapshots: removed again if the run does not finish
    records = job.records(checkpoint=ck, on_plan=on_plan, on_tile=None if ns.quiet else bar.tile)
    try:
        for i, rec in enumerate(records):
            for note in rec.notes if i == 0 else ():
                print(f"{PROG}: note: {note}", file=sys.stderr)
            bar.update(rec)
            if ns.save_every and rec.done % ns.save_every == 0 and rec.done < rec.total:
                written.append(save_image(rec.image, _snapshot_path(output, rec.done), True))
        if job.last is None:
            raise GramstyleError("nothing to do: --steps and --coarse-steps are 0")
        job.save(output, overwrite=ns.overwrite)
        if ck is not None:
            ck.finish()
    except BaseException as e:
        bar.close()
        for p in written:
            p.unlink(missing_ok=True)
        if isinstance(e, KeyboardInterrupt) and ck is not None:
            _keep(ck, job)
        raise
    finally:
        bar.close()
    if not ns.quiet:
        h, w = job.last.size
        print(f"wrote {output} ({w}x{h}, {job.last.summary()})", file=sys.stderr)
    return 0


def _keep(ck: Any, job: Any) -> None:
    """After Ctrl-C or SIGTERM: the checkpoint of the last finished step, and where it is."""
    if job.run is not None and ck.saved_at != getattr(job.last, "done", None):
        ck.save(job.run, job.prep.key)  # interrupted between two steps, not in one
    if ck.saved_at is not None:
        print(
            f"{PROG}: checkpoint saved at step {ck.saved_at}: {ck.path} (continue with --resume)",
            file=sys.stderr,
        )


def cmd_stylize(ns: argparse.Namespace) -> int:
    return run(
        ns.content,
        ns.styles,
        ns.output,
        ns,
        blend=ns.style_blend,
        masks=ns.masks,
        labels=(ns.content_labels, ns.style_labels),
    )


def cmd_demo(ns: argparse.Namespace) -> int:
    from ..image import check_output
    from ..samples import demo_content, demo_style

    settings_from(ns)  # options and output before the style is drawn (about 1.5 s)
    check_output(ns.output, ns.overwrite)
    code = run(demo_content(), [demo_style()], ns.output, ns)
    print(Path(ns.output).resolve())
    return code
