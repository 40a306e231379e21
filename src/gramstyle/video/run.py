"""``stylize_video``: the per-frame loop for both methods, resumable, progress as data.

One :class:`~gramstyle.session.Stylizer` serves every frame (network loaded once, style
targets computed once). For each frame ``t`` after the first, with a temporal weight
``W > 0``, the earlier outputs ``t - j`` (``j`` in ``long_term``: 1, 2, 4 for Gatys, 1 for
AdaIN) are warped onto frame ``t`` along the DIS flow between the *input* frames, with
Ruder et al.'s reliability masks (:mod:`gramstyle.video.flow`), and then:

- Gatys: the optimisation starts from those warped outputs (each pixel from the nearest
  frame in which it is visible, the rest from the content) and J gains the temporal
  cost ``W * sum_j mean(c_j (x - warped_j)^2)``; being close to its answer already, a
  frame after the first needs one scale at full size and ``frame_steps`` steps, not the
  whole pyramid.
- AdaIN: the one-pass result ``a`` is replaced by the minimiser of the same kind of
  cost, ``|x - a|^2 + W sum_j c_j |x - warped_j|^2``, pixel by pixel. Before that, with
  ``grid_align``, the frame is placed on a canvas shifted by the camera's accumulated
  motion (the median flow) modulo the network's 8 px stride: the encoder and decoder
  are shift-equivariant only in steps of 8 px, so without it a pan of 1-7 px a frame
  is repainted with new strokes every frame (that shimmer is most of AdaIN's flicker).

``W = 0`` stylises every frame on its own (the first frame's settings for all).

Finished frames are PNG files in a work folder beside the output, named by a hash of
the input, the styles and every setting; a run that stops (Ctrl-C, SIGTERM, a crash)
and is started again with the same arguments continues after the last finished frame.
The video is assembled from those frames and the input's audio at the end (atomic),
and the work folder is removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..colour import grey, luminance, match_color, match_luminance, with_chroma_of
from ..config import Settings
from ..errors import GramstyleError
from ..image import ImageLike, load_image, save_image
from .settings import VideoSettings
from .temporal import Anchor, TemporalCost, blend_towards, fill

if TYPE_CHECKING:
    from ..adain import Decoder
    from ..backbone import VGG19
    from ..run import StepRecord
    from ..session import Stylizer
    from .io import VideoInfo

#: Bumped when the frames a run keeps would come out differently for the same settings.
WORK_FORMAT = 2

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
    """One optimiser step of frame ``frame`` (Gatys only)."""

    frame: int
    frames: int
    record: StepRecord


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


def _net_key(net: torch.nn.Module) -> str:
    """A fingerprint of a network's weights (injected ones are not named by the settings)."""
    h = hashlib.blake2b(digest_size=8)
    for name, p in net.state_dict().items():
        h.update(name.encode())
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes()[:4096])
        h.update(repr(float(p.detach().double().sum())).encode())
    return h.hexdigest()


def run_key(parts: Sequence[str]) -> str:
    h = hashlib.blake2b(digest_size=10)
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


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


# -- colour ----------------------------------------------------------------------------------


class _Colour:
    """``--preserve-color`` for a clip: styles are recoloured once, against the first
    frame, so the style targets (and the look) do not change from frame to frame."""

    def __init__(self, mode: str, first: Tensor, styles: Sequence[Tensor]) -> None:
        self.mode = mode
        if mode == "luminance":
            self.styles = [match_luminance(x, first) for x in styles]
        elif mode == "match":
            self.styles = [match_color(x, first) for x in styles]
        else:
            self.styles = list(styles)

    def content(self, frame: Tensor) -> Tensor:
        """What the network sees of a frame."""
        return grey(luminance(frame)) if self.mode == "luminance" else frame

    def output(self, x: Tensor, frame: Tensor) -> Tensor:
        return with_chroma_of(x, frame) if self.mode == "luminance" else x


# -- the two methods -----------------------------------------------------------------------


class _Gatys:
    def __init__(self, st: Stylizer, s: Settings, colour: _Colour, blend, vs: VideoSettings,
                 weight: float) -> None:  # fmt: skip
        self.st, self.colour, self.blend, self.weight = st, colour, blend, weight
        self.first = s.replace(preserve_color="none")
        # Later frames: one scale at full size, a small budget, the temporal cost.
        self.later = self.first.replace(min_size=s.size, steps=vs.frame_steps)

    def frame(
        self, index: int, frame: Tensor, anchors: list[Anchor], shift: tuple[float, float]
    ) -> Generator[StepRecord, None, Tensor]:
        """Yields step records; the generator's return value is the result (``shift``,
        the camera's accumulated motion, is AdaIN's)."""
        C = self.colour.content(frame)
        if index == 0 or self.weight == 0:
            prep = self.st.prepare(C, self.colour.styles, self.first, blend=self.blend)
            run = self.st.run(prep)
            x0 = C
        else:
            seen = [
                Anchor(a.offset, self.colour.content(a.image), a.mask) for a in anchors
            ]  # the optimised picture is the luminance with luminance preservation
            prep = self.st.prepare(C, self.colour.styles, self.later, blend=self.blend)
            x0 = fill(seen, C)
            run = self.st.run(prep, init=x0, extra_cost=TemporalCost(seen, self.weight))
        last = None
        for rec in run:
            yield rec
            last = rec
        x = x0 if last is None else last.image.detach().clamp(0, 1)
        if x.shape != frame.shape:  # prepare resized: keep the frame's exact size
            from ..image import resize

            x = resize(x, (frame.shape[-2], frame.shape[-1]))
        return self.colour.output(x, frame)


#: AdaIN's encoder stride (three poolings to relu4_1): shifts by multiples of it leave
#: the decoder's strokes in place.
GRID = 8


class _AdaIN:
    def __init__(self, st: Stylizer, s: Settings, colour: _Colour, blend, first: Tensor,
                 weight: float, align: bool) -> None:  # fmt: skip
        from ..adain import DEFAULT_TILE
        from ..pyramid import style_side

        self.s, self.colour, self.weight, self.align = s, colour, weight, align
        self.tile = s.tile or DEFAULT_TILE
        prep = st.prepare(colour.content(first), colour.styles, s.replace(preserve_color="none"),
                          blend=blend)  # fmt: skip
        self.model = st.adain_model(prep.settings)  # the fast engine (int8/bf16 where it pays)
        self.stats = st.adain_stats(prep, style_side(s, s.size))  # once per clip

    def frame(
        self, index: int, frame: Tensor, anchors: list[Anchor], shift: tuple[float, float]
    ) -> Generator[StepRecord, None, Tensor]:
        s, g = self.s, GRID
        C = self.colour.content(frame)
        if self.align:  # the scene keeps its place on the 8 px grid (module docstring)
            (H, W), (ox, oy) = C.shape[-2:], (round(v) % g for v in shift)
            canvas = F.pad(C, (ox, g - ox, oy, g - oy), mode="replicate")
            a = self.model(canvas, self.stats, s.alpha, tile=self.tile)
            a = a[..., oy : oy + H, ox : ox + W]
        else:
            a = self.model(C, self.stats, s.alpha, tile=self.tile)
        out = self.colour.output(a, frame)
        if anchors and self.weight > 0:
            out = blend_towards(out, anchors, self.weight)
        return out
        yield  # a generator like _Gatys.frame, without step records


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
    from .flow import dis_flow, long_term_masks, reliable, warp

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
    decoder: Decoder | None = None,
    **overrides: Any,
) -> Iterator[VideoRecord]:
    """Stylise every frame of the video ``input`` and write ``output`` with its audio.

    Yields a :class:`VideoStart`, then per frame :class:`FrameStep` records (Gatys: one
    per optimiser step) and a :class:`FrameDone`, and last a :class:`VideoDone`; the
    work happens as the iterator is consumed. ``settings``/``overrides`` are the image
    settings (``size`` is the output's longest side, ``method`` picks Gatys or AdaIN);
    ``video`` the temporal and encoding ones. ``stylizer`` reuses a session (network,
    cached style targets); ``backbone``/``decoder`` inject networks for a new one.
    Finished frames are kept in a work folder beside ``output`` until the video is
    written (``keep_frames`` keeps them after), so the same call after an interruption
    continues where it stopped. Errors in the inputs raise
    :class:`~gramstyle.errors.GramstyleError` before any work; ``output`` appears only
    when complete.
    """
    from ..device import pick_device
    from ..prepare import as_list, blend_weights, settings_key, tensor_key
    from ..session import Stylizer
    from .io import VideoWriter, check_video_output, probe, processing_size, read_frames

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
    key = run_key([
        f"work{WORK_FORMAT}", _file_key(info.path), *(tensor_key(x) for x in styles),
        settings_key(s), repr(dataclasses.asdict(vs)), repr(weight), repr(size), repr(blend),
        _net_key(st.network(s)),
        _net_key(st.decoder(device)) if s.method == "adain" else "",
    ])  # fmt: skip
    work = work_dir_for(out_path, key)
    kept = kept_frames(work)
    about = {"input": str(info.path), "output": str(out_path), "settings": dataclasses.asdict(s),
             "video": dataclasses.asdict(vs)}  # fmt: skip
    yield VideoStart(info, size, info.frames, len(kept), work, weight, tuple(notes))

    offsets = list(vs.offsets(s.method)) if weight > 0 else []
    align = s.method == "adain" and vs.grid_align and weight > 0
    shifts = _Shifts(work)
    depth = max(offsets, default=0)
    inputs: dict[int, Tensor] = {}  # the last `depth` input frames
    outputs: dict[int, Tensor] = {}  # the last `depth` outputs, as kept
    engine: _Gatys | _AdaIN | None = None
    computed = 0
    decode_notes: list[str] = []
    for fr in read_frames(info, size, decode_notes):
        t = fr.index
        if engine is None:
            colour = _Colour(s.preserve_color, fr.image.to(device), [x.to(device) for x in styles])
            engine = (
                _AdaIN(st, s, colour, blend, fr.image.to(device), weight, align)
                if s.method == "adain"
                else _Gatys(st, s, colour, blend, vs, weight)
            )
        frame = fr.image.to(device)
        if t < len(kept):  # finished in an earlier run
            if t >= len(kept) - depth:
                outputs[t] = load_image(kept[t][0], None, "kept frame").to(device)
                inputs[t] = frame
            continue
        t0 = time.perf_counter()
        anchors, motion = (
            _anchors(t, frame, inputs, outputs, offsets, vs.flow_preset, align)
            if offsets
            else ([], None)
        )
        shift = shifts.next(t, motion) if align else (0.0, 0.0)
        steps = engine.frame(t, frame, anchors, shift)
        while True:
            try:
                rec = next(steps)
            except StopIteration as stop:
                result = stop.value
                break
            yield FrameStep(t, info.frames, rec)
        q = _quantise(result)
        if not work.is_dir():  # made with the first frame: a bad input leaves nothing behind
            work.mkdir()
            (work / "run.json").write_text(json.dumps(about, indent=1, default=str))
        if align:
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
