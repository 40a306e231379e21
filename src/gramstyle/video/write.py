"""Frames into a video with the input's audio: :class:`VideoWriter`.

Frames are encoded as they come (libx264, yuv420p, BT.709 tags) and the input's audio
packets are copied untouched (remuxed, not re-encoded), interleaved by time, into a
temporary file beside the output, renamed when complete. A constant-rate input keeps
its exact rational rate (24000/1001 stays 24000/1001); a variable-rate input keeps
every frame's own timestamp.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import GramstyleError
from ..fs import new_temp, publish
from .probe import VideoInfo, _av, _open_input, _reason, frame_ticks

#: Output containers by file extension, and the video encoders tried for each, in order.
CONTAINERS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
}
ENCODERS: dict[str, tuple[str, ...]] = {
    "webm": ("libvpx-vp9", "libvpx"),
    "default": ("libx264", "libopenh264", "mpeg4"),
}
#: x264's constant rate factor: 18 is "visually lossless" for most material.
CRF = 18


def check_video_output(path: str | os.PathLike, overwrite: bool = False) -> str:
    """The container for ``path``'s extension; raise now if writing there would fail."""
    p = Path(path)
    fmt = CONTAINERS.get(p.suffix.lower())
    if fmt is None:
        raise GramstyleError(
            f"cannot tell the video format from {str(p)!r}: use "
            + ", ".join(sorted(set(CONTAINERS)))
        )
    if p.is_dir():
        raise GramstyleError(f"output {p} is a directory")
    if p.exists() and not overwrite:
        raise GramstyleError(f"output {p} exists; pass --overwrite to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise GramstyleError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise GramstyleError(f"output folder {parent} is not writable")
    return fmt


def _encoder_name(fmt: str) -> str:
    av = _av()
    for name in ENCODERS.get(fmt, ENCODERS["default"]):
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.FFmpegError, ValueError):
            continue
    raise GramstyleError(f"this FFmpeg build has no video encoder for {fmt}")


@dataclass(frozen=True)
class Timing:
    """How output frames are stamped: ``pts = start + index * step`` in ``time_base``
    (constant rate), or each input frame's own timestamp (``step`` is None: variable
    rate, ``time_base`` is the input's)."""

    time_base: Fraction
    start: int
    step: int | None


def output_timing(info: VideoInfo) -> Timing:
    """Exact timestamps for the output.

    Constant rate: a time base in which one frame is a whole number of ticks, so the
    rate stays exactly ``info.rate`` (the input's own if it has that property, else
    1/90000 if that does, else ``1/numerator`` of the rate). Variable rate: the input's
    time base and timestamps.
    """
    if info.vfr:
        return Timing(info.time_base, info.start, None)
    start_s = info.start * info.time_base
    for tb in (info.time_base, Fraction(1, 90000), Fraction(1, info.rate.numerator)):
        step = 1 / (info.rate * tb)
        if step.denominator == 1 and step > 0:
            return Timing(tb, round(start_s / tb), int(step))
    raise AssertionError("1/numerator always divides a frame")  # pragma: no cover


class VideoWriter:
    """Encode frames to ``path`` one at a time and carry the input's audio over.

    ``info`` is the input (its audio streams are remuxed, packets untouched, into the
    output; a codec the output container cannot hold is re-encoded to the container's
    default audio codec, with a note). ``size`` is the frames' ``(H, W)`` (even).
    Frames go in with :meth:`write`; :meth:`close` flushes the encoder, the rest of
    the audio, and renames the temporary file to ``path``; :meth:`abort` (or leaving a
    ``with`` block by an exception) removes the temporary file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        size: tuple[int, int],
        *,
        overwrite: bool = False,
        crf: int = CRF,
    ) -> None:
        av = self._av = _av()
        self.path = Path(path)
        fmt = check_video_output(self.path, overwrite)
        self.overwrite = overwrite
        self.info, self.size = info, size
        self.timing = output_timing(info)
        self.notes: list[str] = []
        if info.dropped:
            self.notes.append(
                f"{info.dropped} subtitle/data stream(s) of the input are not carried over"
            )
        self.tmp = new_temp(self.path, suffix=".tmp" + self.path.suffix)
        self._in = None
        self._out = None
        try:
            self._out = av.open(str(self.tmp), "w", format=fmt)
            self._setup_video(fmt, crf)
            self._in = _open_input(info.path)
            self._setup_audio(fmt)
        except BaseException:
            self.abort()
            raise

    def _setup_video(self, fmt: str, crf: int) -> None:
        from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

        name = _encoder_name(fmt)
        if name != "libx264" and fmt != "webm":
            self.notes.append(f"this FFmpeg has no libx264; encoding with {name}")
        assert self._out is not None
        s = self._out.add_stream(name, rate=self.info.rate)
        H, W = self.size
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.time_base = self.timing.time_base
        s.time_base = self.timing.time_base
        # Tag what the pixels are: BT.709, limited range (converted so in write()).
        cc = s.codec_context
        cc.colorspace, cc.color_range = Colorspace.ITU709, ColorRange.MPEG
        cc.color_primaries, cc.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
        if name == "libx264":
            s.options = {"crf": str(crf), "preset": "medium"}
        elif name.startswith("libvpx"):
            s.options = {"crf": str(crf + 14), "b": "0", "row-mt": "1"}
        else:
            s.bit_rate = 8 * W * H * 3  # about 1 bit per pixel per frame at 24 fps
        self._vstream = s
        self._written = 0
        self._last_pts: int | None = None

    def _setup_audio(self, fmt: str) -> None:
        av = self._av
        assert self._in is not None and self._out is not None
        self._amap: dict[int, Any] = {}  # input stream index -> output stream (copied)
        self._recode: dict[int, tuple[Any, Any, Any]] = {}  # -> (decoder in, out stream, resampler)
        for a in self._in.streams.audio:
            if _can_copy(av, fmt, a):
                self._amap[a.index] = self._out.add_stream_from_template(a)
                continue
            codec = self._out.default_audio_codec
            out = self._out.add_stream(codec, rate=a.codec_context.sample_rate or 48000)
            out.layout = a.codec_context.layout.name if a.codec_context.layout else "stereo"
            fmt_name = av.codec.Codec(codec, "w").audio_formats[0].name
            res = av.AudioResampler(format=fmt_name, layout=out.layout, rate=out.rate)
            self._recode[a.index] = (a, out, res)
            self.notes.append(
                f"audio stream {a.index} ({a.codec_context.name}) cannot go into "
                f".{self.path.suffix.lstrip('.')} untouched; re-encoded as {codec}"
            )
        streams = [self._in.streams[i] for i in [*self._amap, *self._recode]]
        self._audio = self._in.demux(*streams) if streams else iter(())
        self._pending: Any = None  # the next audio packet, read ahead

    # -- audio --------------------------------------------------------------------------
    def _mux_audio_until(self, seconds: float | None) -> None:
        """Mux audio packets up to ``seconds`` (all of them for None)."""
        assert self._out is not None
        while True:
            pkt = self._pending
            if pkt is None:
                pkt = next(self._audio, None)
                if pkt is None:
                    return
            if pkt.dts is None and pkt.pts is None:  # the demuxer's flush packets
                self._pending = None
                continue
            t = float((pkt.dts if pkt.dts is not None else pkt.pts) * pkt.time_base)
            if seconds is not None and t > seconds:
                self._pending = pkt
                return
            self._pending = None
            i = pkt.stream.index
            if i in self._amap:
                pkt.stream = self._amap[i]
                self._out.mux(pkt)
            else:
                a, out, res = self._recode[i]
                for frame in a.codec_context.decode(pkt):
                    self._encode_audio(out, res, frame)

    def _encode_audio(self, out: Any, res: Any, frame: Any) -> None:
        assert self._out is not None
        for f in res.resample(frame):
            f.pts = None  # the encoder counts samples itself
            for p in out.encode(f):
                self._out.mux(p)

    # -- video --------------------------------------------------------------------------
    def write(self, image: Tensor | np.ndarray, pts: int | None = None) -> None:
        """Encode one frame: ``(1, 3, H, W)`` float in [0, 1] or ``(H, W, 3)`` uint8.

        ``pts`` (the input frame's timestamp) is used for variable-rate inputs; a
        constant-rate output stamps frame ``i`` at ``start + i * step``.
        """
        av = self._av
        from av.video.reformatter import ColorRange, Colorspace

        a = _to_uint8(image)
        if a.shape[:2] != self.size:
            raise ValueError(f"frame is {a.shape[:2]}, the video {self.size}")
        t = self.timing
        if t.step is not None:
            out_pts = t.start + self._written * t.step
            duration = t.step
        else:
            out_pts = pts if pts is not None else (self._last_pts or t.start) + 1
            duration = max(1, round(frame_ticks(self.info)))
        if self._last_pts is not None and out_pts <= self._last_pts:
            out_pts = self._last_pts + 1
        self._last_pts = out_pts
        frame = av.VideoFrame.from_ndarray(a, format="rgb24")
        frame = frame.reformat(
            format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
        )
        frame.pts, frame.time_base, frame.duration = out_pts, t.time_base, duration
        self._mux_audio_until(float(out_pts * t.time_base))
        assert self._out is not None
        for p in self._vstream.encode(frame):
            self._out.mux(p)
        self._written += 1

    def close(self) -> Path:
        """Flush everything, close the file and move it to ``path``; return ``path``."""
        assert self._out is not None
        try:
            for p in self._vstream.encode(None):
                self._out.mux(p)
            self._mux_audio_until(None)
            for a, out, res in self._recode.values():
                for frame in a.codec_context.decode(None):
                    self._encode_audio(out, res, frame)
                for p in out.encode(None):
                    self._out.mux(p)
            self._out.close()
            self._out = None
            if self._in is not None:
                self._in.close()
                self._in = None
            if self.path.exists() and not self.overwrite:  # appeared while we worked
                raise GramstyleError(f"output {self.path} exists; pass --overwrite to replace it")
            publish(self.tmp, self.path)
        except self._av.FFmpegError as e:
            self.abort()
            raise GramstyleError(f"could not write {self.path}: {_reason(e)}") from None
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Close without writing ``path``; the temporary file is removed."""
        for c in (self._out, self._in):
            if c is not None:
                # Closing a broken file must not hide what broke it.
                with contextlib.suppress(Exception):
                    c.close()
        self._out = self._in = None
        if self.tmp.exists():
            self.tmp.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _can_copy(av: Any, fmt: str, stream: Any) -> bool:
    """Whether ``fmt`` can hold ``stream``'s packets as they are (a dry run in memory)."""
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as out:
            out.add_stream_from_template(stream)
            out.start_encoding()
        return True
    except (av.FFmpegError, ValueError):
        return False


def _to_uint8(image: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image, dtype=np.uint8)
    x = image.detach().float()
    if x.dim() == 4:
        x = x[0]
    return x.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
