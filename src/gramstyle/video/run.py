"""``stylize_video``: a job per frame, whatever the method, resumable, progress as data.

One :class:`~gramstyle.session.Stylizer` serves every frame (network loaded once, the
style's targets computed once), and each frame is one :class:`~gramstyle.job.Job`.
For each frame ``t`` after the first, with a temporal weight ``W > 0``, the earlier
outputs ``t - j`` (``j`` in the method's ``long_term``: 1, 2, 4 for Gatys, 1 for AdaIN)
are warped onto frame ``t`` along the DIS flow between the *input* frames, with Ruder
et al.'s reliability masks (:mod:`gramstyle.video.flow`), and the frame's job gets:

- a start image from those warped outputs (each pixel from the nearest frame in which
  it is visible, the rest from the content): a method that optimises, close to its
  answer already, needs one scale at full size and ``frame_steps`` steps;
- the temporal cost ``W * sum_j mean(c_j (x - warped_j)^2)`` as an extra cost: added to
  J by a method that optimises; a one-pass method (AdaIN) replaces its result by the
  cost's minimiser near it (:meth:`~gramstyle.video.temporal.TemporalCost.proximal`).

A one-pass network whose strokes move only in steps of its stride (the method's
``temporal.grid``: 8 px for AdaIN) sees each frame on a canvas shifted by the camera's
accumulated motion (the median flow) modulo that grid: without it a pan of 1-7 px a
frame is repainted with new strokes every frame (most of AdaIN's flicker).

``W = 0`` stylises every frame on its own (the first frame's settings for all). Colour
preservation recolours the styles against the first frame, so the look (and the style
targets) stay the same all through the clip.

Finished frames are PNG files in a work folder beside the output, named by a
fingerprint of the input, the styles, the networks and every setting; a run that stops
(Ctrl-C, SIGTERM, a crash) and is started again with the same arguments continues after
the last finished frame. The video is assembled from those frames and the input's
audio at the end (atomic), and the work folder is removed."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from .. import registry
from ..device import pick_device
from ..errors import GramstyleError
from ..fs import write_json
from ..image import ImageLike, load_image, resize, save_image
from ..job import Job
from ..keys import fingerprint
from ..method import Record
from ..nn.backbone import VGG19
from ..request import as_list, blend_weights
from ..session import Stylizer
from ..settings import Settings
from .flow import dis_flow, long_term_masks, reliable, warp
from .probe import VideoInfo, probe, processing_size
from .read import read_frames
from .settings import VideoSettings
from .temporal import Anchor, TemporalCost, fill
from .write import VideoWriter, check_video_output

#: Bumped when the frames a run keeps would come out differently for the same settings.
WORK_FORMAT = 3

# -- progress records ------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoStart:
    """First record: what will be done. ``resumed`` frames were found finished in
    ``work_dir`` and are not computed again; ``notes`` are things to tell the user."""

    info: VideoInfo
    size: tuple[int, int]  # (H, W) of the output frames
    frames: int  # frames in the input (as its container counts them)
    resumed: int
    work_dir: Path
    temporal_weight: float
    notes: tuple[str, ...]


@dataclass(frozen=True)
class FrameStep:
    """A record of frame ``frame``'s job (one per optimiser step for a method that
    optimises)."""

    frame: int
    frames: int
    record: Record


@dataclass(frozen=True)
class FrameDone:
    """Frame ``frame`` finished in ``seconds`` (flow included); ``image`` is the result
    ``(1, 3, H, W)`` as kept (8-bit); ``reliable`` the share of its pixels tied to an
    earlier output (0 for the first frame or with ``W = 0``)."""

    frame: int
    frames: int
    seconds: float
    image: Tensor
    reliable: float


@dataclass(frozen=True)
class VideoDone:
    """Last record: ``output`` was written with ``frames`` frames, ``computed`` of them
    in this run, in ``seconds``."""

    output: Path
    frames: int
    computed: int
    seconds: float
    notes: tuple[str, ...]


VideoRecord = VideoStart | FrameStep | FrameDone | VideoDone


# -- the work folder --------------------------------------------------------------------------

_FRAME = re.compile(r"f(\d{6})_t(-?\d+)\.png")


def _file_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def work_dir_for(output: Path, key: str) -> Path:
    """The hidden folder beside ``output`` that keeps a run's finished frames."""
    return output.parent / f".{output.name}.{key}.frames"


def kept_frames(work: Path) -> list[tuple[Path, int]]:
    """``(path, pts)`` of the finished frames 0, 1, 2, ... (stops at the first gap)."""
    found: dict[int, tuple[Path, int]] = {}
    if work.is_dir():
        for p in work.iterdir():
            m = _FRAME.fullmatch(p.name)
            if m:
                found[int(m.group(1))] = (p, int(m.group(2)))
    out: list[tuple[Path, int]] = []
    while len(out) in found:
        out.append(found[len(out)])
    return out


def _frame_path(work: Path, index: int, pts: int) -> Path:
    return work / f"f{index:06d}_t{pts}.png"


# -- the loop -------------------------------------------------------------------------------


def _anchors(
    t: int,
    frame: Tensor,
    inputs: dict[int, Tensor],
    outputs: dict[int, Tensor],
    offsets: Sequence[int],
    preset: str,
    motion_wanted: bool,
) -> tuple[list[Anchor], tuple[int, float, float] | None]:
    """Earlier outputs warped onto frame ``t`` with long-term reliability masks, and, if
    ``motion_wanted``, the camera's motion from the nearest of them: ``(j, dx, dy)``, the
    median flow from frame ``t`` to ``t - j`` over its reliable pixels (None without)."""
    found, motion = [], None
    for j in sorted(offsets):
        if t - j not in outputs:
            continue
        prev = inputs[t - j]
        fw = dis_flow(frame, prev, preset)  # frame t -> t-j: pulls t-j's pixels onto t
        bw = dis_flow(prev, frame, preset)
        c = reliable(fw, bw)
        if motion_wanted and motion is None and bool((c > 0.5).any()):
            dx, dy = (float(fw[0, k][c[0, 0] > 0.5].median()) for k in (0, 1))
            motion = (j, dx, dy)
        found.append((j, warp(outputs[t - j], fw, "bicubic"), c))
    masks = long_term_masks([c for _, _, c in found])
    return [Anchor(j, w, m) for (j, w, _), m in zip(found, masks, strict=True)], motion


class _Shifts:
    """The camera's accumulated motion per frame, ``x_t = x_{t-j} + median flow``,
    appended to ``shift.txt`` in the work folder before the frame is kept, so a resumed
    run continues it exactly (the last line for a frame wins)."""

    def __init__(self, work: Path) -> None:
        self.path = work / "shift.txt"
        self.at: dict[int, tuple[float, float]] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3:  # a line cut short by a crash is skipped
                    try:
                        self.at[int(parts[0])] = (float(parts[1]), float(parts[2]))
                    except ValueError:
                        continue

    def next(self, t: int, motion: tuple[int, float, float] | None) -> tuple[float, float]:
        if motion is None:
            return self.at.get(t - 1, (0.0, 0.0))  # no reliable pixel (a cut): stay put
        j, dx, dy = motion
        x, y = self.at.get(t - j, (0.0, 0.0))
        return x + dx, y + dy

    def keep(self, t: int, shift: tuple[float, float]) -> None:
        self.at[t] = shift
        with self.path.open("a") as f:
            f.write(f"{t} {shift[0]!r} {shift[1]!r}\n")


def _quantise(x: Tensor) -> Tensor:
    """What an 8-bit PNG keeps; earlier outputs are used in this form, so a resumed
    run computes exactly what an uninterrupted one would."""
    return x.detach().float().clamp(0, 1).mul(255).round().div(255)


def stylize_video(
    input: str | os.PathLike,
    style: ImageLike | Sequence[ImageLike],
    output: str | os.PathLike,
    settings: Settings | None = None,
    *,
    video: VideoSettings | None = None,
    blend: Sequence[float] | None = None,
    overwrite: bool = False,
    keep_frames: bool = False,
    stylizer: Stylizer | None = None,
    backbone: VGG19 | None = None,
    decoder: nn.Module | None = None,
    **overrides: Any,
) -> Iterator[VideoRecord]:
    """Stylise every frame of the video ``input`` and write ``output`` with its audio.

    Yields a :class:`VideoStart`, then per frame :class:`FrameStep` records (one per
    optimiser step for a method that optimises) and a :class:`FrameDone`, and last a
    :class:`VideoDone`; the work happens as the iterator is consumed.
    ``settings``/``overrides`` are the image settings (``size`` is the output's
    longest side, ``method`` picks the method); ``video`` the temporal and encoding
    ones. ``stylizer`` reuses a session (network, cached style targets);
    ``backbone``/``decoder`` inject networks for a new one.
    Finished frames are kept in a work folder beside ``output`` until the video is
    written (``keep_frames`` keeps them after), so the same call after an interruption
    continues where it stopped. Errors in the inputs raise
    :class:`~gramstyle.errors.GramstyleError` before any work; ``output`` appears only
    when complete.
    """
    t_start = time.perf_counter()
    s = settings or Settings()
    s = s.replace(**overrides) if overrides else s
    vs = video or VideoSettings()
    out_path = Path(output)
    check_video_output(out_path, overwrite)
    info = probe(input)
    size, size_notes = processing_size(info, s.size)
    notes = list(size_notes)
    if info.vfr:
        notes.append("variable frame rate: every frame keeps its own timestamp")
    # The engine sees frames already at their final size: size = their longest side.
    s = s.replace(size=max(size))
    styles = [load_image(x, None, "style image") for x in as_list(style)]
    if not styles:
        raise GramstyleError("no style image given")
    blend = blend_weights(blend, len(styles))
    weight = vs.weight(s.method)
    device = pick_device(s.device)
    st = stylizer or Stylizer(s, backbone=backbone, decoder=decoder)
    key = fingerprint(
        WORK_FORMAT,
        _file_key(info.path),
        styles,
        s,
        vs,
        weight,
        size,
        blend,
        st.networks_key(s),
        size=10,
    )
    work = work_dir_for(out_path, key)
    kept = kept_frames(work)
    about = {
        "input": str(info.path),
        "output": str(out_path),
        "settings": dataclasses.asdict(s),
        "video": dataclasses.asdict(vs),
    }
    yield VideoStart(info, size, info.frames, len(kept), work, weight, tuple(notes))

    offsets = list(vs.offsets(s.method)) if weight > 0 else []
    grid = registry.info(s.method).temporal.grid if vs.grid_align and weight > 0 else None
    # Later frames: one scale at full size, a small budget (a method that takes no
    # steps ignores both), the start image and the temporal cost from the anchors.
    later = s.replace(min_size=s.size, steps=vs.frame_steps)
    shifts = _Shifts(work)
    depth = max(offsets, default=0)
    inputs: dict[int, Tensor] = {}  # the last `depth` input frames
    outputs: dict[int, Tensor] = {}  # the last `depth` outputs, as kept
    reference: Tensor | None = None  # the first frame: the styles' colours follow it
    computed = 0
    decode_notes: list[str] = []
    for fr in read_frames(info, size, decode_notes):
        t = fr.index
        frame = fr.image.to(device)
        reference = frame if reference is None else reference
        if t < len(kept):  # finished in an earlier run
            if t >= len(kept) - depth:
                outputs[t] = load_image(kept[t][0], None, "kept frame").to(device)
                inputs[t] = frame
            continue
        t0 = time.perf_counter()
        anchors, motion = (
            _anchors(t, frame, inputs, outputs, offsets, vs.flow_preset, grid is not None)
            if offsets
            else ([], None)
        )
        shift = shifts.next(t, motion) if grid is not None else (0.0, 0.0)
        job = _frame_job(
            st,
            frame,
            styles,
            blend,
            later if anchors else s,
            anchors,
            weight,
            reference,
            grid,
            shift,
        )
        for rec in job.records():
            yield FrameStep(t, info.frames, rec)
        q = _quantise(_frame_size(job.result(), frame))
        if not work.is_dir():  # made with the first frame: a bad input leaves nothing behind
            work.mkdir()
            write_json(work / "run.json", json.loads(json.dumps(about, default=str)))
        if grid is not None:
            shifts.keep(t, shift)
        save_image(q, _frame_path(work, t, fr.pts), overwrite=True)
        kept.append((_frame_path(work, t, fr.pts), fr.pts))
        computed += 1
        share = float(sum(a.mask.mean() for a in anchors)) if anchors else 0.0
        yield FrameDone(t, info.frames, time.perf_counter() - t0, q, share)
        if depth:
            outputs[t], inputs[t] = q, frame
            for old in [k for k in outputs if k <= t - depth]:
                del outputs[old], inputs[old]

    notes.extend(decode_notes)
    with VideoWriter(out_path, info, size, overwrite=overwrite, crf=vs.crf) as writer:
        for path, pts in kept:
            writer.write(load_image(path, None, "kept frame"), pts)
        notes.extend(writer.notes)
    if not keep_frames:
        shutil.rmtree(work, ignore_errors=True)
    yield VideoDone(out_path, len(kept), computed, time.perf_counter() - t_start, tuple(notes))


def _frame_job(
    st: Stylizer,
    frame: Tensor,
    styles: Sequence[Tensor],
    blend: Sequence[float] | None,
    s: Settings,
    anchors: Sequence[Anchor],
    weight: float,
    reference: Tensor,
    grid: int | None,
    shift: tuple[float, float],
) -> Job:
    """The job of one frame: from the warped earlier outputs when there are any, tied to
    them by the temporal cost; placed on the method's grid when it has one (the scene
    keeps its place on the grid: module docstring)."""
    start = fill(anchors, frame) if anchors else None
    cost = TemporalCost(anchors, weight, s.preserve_color) if anchors else None
    offset = None if grid is None else (round(shift[0]) % grid, round(shift[1]) % grid)
    return st.job(
        frame,
        list(styles),
        s,
        blend=blend,
        start=start,
        extra_cost=cost,
        colour_reference=reference,
        shift=offset,
    )


def _frame_size(x: Tensor, frame: Tensor) -> Tensor:
    """``x`` at the frame's exact size (prepare may have rounded it)."""
    if x.shape[-2:] != frame.shape[-2:]:
        x = resize(x, (frame.shape[-2], frame.shape[-1]))
    return x
