"""``gramstyle video IN STYLE [STYLE...] -o OUT.mp4``: the parser and the command."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from .. import registry
from ..errors import GramstyleError
from ..video.settings import VideoSettings
from .options import add_settings_options, floats, recipe_from, settings_from

PROG = "gramstyle"


def _offsets(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of frames"
        ) from None
    if not out:
        raise argparse.ArgumentTypeError("no frame offsets given")
    return out


def _per_method(what: str) -> str:
    """Each method's default, e.g. ``100 for gatys, 0.6 for adain``."""
    parts = []
    for name in registry.names():
        t = registry.info(name).temporal
        value = f"{t.weight:g}" if what == "weight" else ",".join(map(str, t.long_term))
        parts.append(f"{value} for {name}")
    return ", ".join(parts)


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per :class:`VideoSettings` field, defaults and help from it."""
    hints = typing.get_type_hints(VideoSettings)
    base = VideoSettings()
    group = parser.add_argument_group("video")
    for f in dataclasses.fields(VideoSettings):
        hint = hints[f.name]
        meta = dict(f.metadata)
        help_text = meta.pop("help", "")
        if f.name in ("temporal_weight", "long_term"):
            help_text += f" (default: {_per_method('weight' if 'weight' in f.name else 'offsets')})"
        default = getattr(base, f.name)
        flag = f"--{f.name.replace('_', '-')}"
        if hint is bool:  # --grid-align / --no-grid-align
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text,
            )
            continue
        args = set(typing.get_args(hint)) - {type(None)}
        if typing.get_origin(hint) is tuple or any(typing.get_origin(a) is tuple for a in args):
            conv: typing.Callable[[str], typing.Any] = _offsets
        elif hint == float | None:
            conv = float
        else:
            conv = hint
        if default is not None:
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            help_text += f" (default: {shown})"
        group.add_argument(
            flag,
            dest=f.name,
            type=conv,
            default=default,
            help=help_text,
            metavar=None if "choices" in meta else f.name.upper(),
            **meta,
        )


def add_parser(sub: typing.Any) -> None:
    """Register ``gramstyle video`` on the CLI's subparsers."""
    p = sub.add_parser(
        "video",
        help="stylise every frame of a video, temporally consistent, sound kept",
        description="Stylise IN frame by frame in the style of STYLE and write OUT with the "
        "input's audio, frame rate and timestamps. Each frame is tied to the flow-warped "
        "earlier outputs (--temporal-weight), so the result does not flicker. Frames keep "
        "the clip's size (--size makes them smaller, never larger). Finished frames are "
        "kept beside OUT, so the same command continues an interrupted run.",
    )
    p.add_argument("input", metavar="IN", help="the video (.mp4, .mov, .mkv, .webm, ...)")
    p.add_argument("styles", metavar="STYLE", nargs="+", help="one or more style images")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .mov, .mkv, .webm)")
    p.add_argument(
        "--style-blend",
        type=floats,
        default=None,
        metavar="W1,W2,...",
        help="weights of several styles, not negative, normalised to sum 1 (default: equal)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--keep-frames", action="store_true", help="keep the finished frames (PNG) after writing"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_video_options(p)
    add_settings_options(p)
    p.set_defaults(func=command)


def command(ns: argparse.Namespace) -> int:
    from ..progress import FrameBar
    from ..video.probe import probe
    from ..video.run import FrameDone, FrameStep, VideoDone, VideoStart, stylize_video

    settings = settings_from(ns)
    if "size" not in recipe_from(ns).changes:  # --size not given: the clip's own size
        settings = settings.replace(size=max(probe(ns.input).display_size))
    video = VideoSettings(
        **{f.name: getattr(ns, f.name) for f in dataclasses.fields(VideoSettings)}
    )
    bar: FrameBar | None = None
    start: VideoStart | None = None
    done: VideoDone | None = None
    frames_done = 0
    try:
        records = stylize_video(
            ns.input,
            ns.styles,
            ns.output,
            settings,
            video=video,
            blend=ns.style_blend,
            overwrite=ns.overwrite,
            keep_frames=ns.keep_frames,
        )
        for rec in records:
            if isinstance(rec, VideoStart):
                start, frames_done = rec, rec.resumed
                for note in rec.notes:
                    print(f"{PROG}: note: {note}", file=sys.stderr)
                if rec.resumed:
                    print(
                        f"{PROG}: note: continuing: {rec.resumed} of {rec.frames} frames "
                        f"were finished in {rec.work_dir}",
                        file=sys.stderr,
                    )
                bar = FrameBar(rec.frames, rec.resumed, ns.quiet)
            elif isinstance(rec, FrameStep) and bar is not None:
                bar.step(rec)
            elif isinstance(rec, FrameDone) and bar is not None:
                frames_done = rec.frame + 1
                bar.frame(rec)
            elif isinstance(rec, VideoDone):
                done = rec
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        if start is not None and frames_done:
            print(
                f"{PROG}: note: {frames_done} finished frames are kept in {start.work_dir}; "
                "the same command continues from there",
                file=sys.stderr,
            )
        raise
    finally:
        if bar is not None:
            bar.close()
    if done is None:  # pragma: no cover - the iterator always ends with VideoDone
        raise GramstyleError("the video was not written")
    for note in done.notes[len(start.notes) if start else 0 :]:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    if not ns.quiet and start is not None:
        h, w = start.size
        print(
            f"wrote {done.output} ({done.frames} frames, {w}x{h}, {done.computed} computed "
            f"in {done.seconds:.0f} s)",
            file=sys.stderr,
        )
    print(Path(done.output).resolve())
    return 0
