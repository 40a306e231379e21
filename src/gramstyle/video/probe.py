"""What a video file holds: streams, the exact rational frame rate, the frame count,
rotation, whether the rate is variable, and the size frames are processed at.

Anything that is not a video PyAV can decode is refused with a one-line
:class:`~gramstyle.errors.GramstyleError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..decode import MAX_PIXELS
from ..errors import GramstyleError
from ..sizes import fit_size

#: A stream is variable-rate when its frame intervals differ by more than this share of
#: the median interval (plus one tick of the time base, for rounded time bases).
VFR_TOLERANCE = 0.02


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise GramstyleError("video needs PyAV: pip install 'gramstyle[video]'") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found in a video file.

    ``width``/``height`` are the coded size; ``rotation`` is the counter-clockwise turn
    (0, 90, 180 or 270 degrees) that shows a decoded frame upright; ``sar`` is the
    sample (pixel) aspect ratio. ``rate`` is the average frame rate as an exact
    fraction and ``time_base`` the unit of the stream's timestamps; ``start`` is the
    first frame's timestamp in that unit. ``frames`` counts the stream's packets (one
    per frame for every common codec).
    """

    path: Path
    container: str
    codec: str
    width: int
    height: int
    sar: Fraction
    rotation: int
    rate: Fraction
    time_base: Fraction
    start: int
    frames: int
    vfr: bool
    audio: tuple[str, ...]  # codec name of each audio stream, in order
    dropped: int  # subtitle, data and attachment streams (not carried over)

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` as shown: square pixels, upright."""
        w = max(1, round(self.width * self.sar)) if self.sar > 0 else self.width
        h = self.height
        return (h, w) if self.rotation in (90, 270) else (w, h)

    @property
    def duration(self) -> float:
        """Seconds, from the frame count and the average rate."""
        return float(self.frames / self.rate)


def _open_input(path: Path) -> Any:
    av = _av()
    if not path.exists():
        raise GramstyleError(f"video not found: {path}")
    if path.is_dir():
        raise GramstyleError(f"video is a directory, not a file: {path}")
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise GramstyleError(
            f"{path} is not a video FFmpeg can read ({_reason(e)}); is it broken or truncated?"
        ) from None


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(":")[0].strip() or type(e).__name__


def _rotation(degrees: float | int | None) -> int:
    """A display-matrix angle (counter-clockwise, -180..180) as 0, 90, 180 or 270."""
    if not degrees:
        return 0
    return int(round(float(degrees) / 90.0)) % 4 * 90


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read the first video stream's facts; one demux pass over its packets (no decode
    but the first frame, for the rotation).

    Raises :class:`GramstyleError` for a missing or unreadable file, a still image, a
    file without a video stream or without frames, and frames of more than
    :data:`gramstyle.decode.MAX_PIXELS` pixels.
    """
    av = _av()
    p = Path(path)
    with _open_input(p) as c:
        fmt = c.format.name
        if fmt == "image2" or fmt.endswith("_pipe"):
            raise GramstyleError(
                f"{p} is a still image ({fmt.removesuffix('_pipe')}), not a video; "
                "use `gramstyle stylize` for images"
            )
        if not c.streams.video:
            kinds = ", ".join(sorted({s.type for s in c.streams})) or "no streams"
            raise GramstyleError(f"{p} has no video stream ({kinds})")
        s = c.streams.video[0]
        ctx = s.codec_context
        width, height = ctx.width, ctx.height
        if width <= 0 or height <= 0:
            raise GramstyleError(f"{p}: the video stream has no frame size")
        if width * height > MAX_PIXELS:
            raise GramstyleError(
                f"{p} has {width}x{height} frames: too many pixels (limit {MAX_PIXELS:,})"
            )
        tb = s.time_base or Fraction(1, 90000)
        pts: list[int] = []
        frames = 0
        try:
            for packet in c.demux(s):
                if packet.size == 0:  # the demuxer's flush packet
                    continue
                frames += 1
                if packet.pts is not None:
                    pts.append(packet.pts)
        except av.FFmpegError:
            pass  # a damaged tail: read_frames decodes what is there and says so
        if frames == 0:
            raise GramstyleError(f"{p} has a video stream but no frames")
        pts.sort()
        rate = _frame_rate(s.average_rate, s.guessed_rate, pts, tb)
        vfr = _is_vfr(pts)
        sar = Fraction(ctx.sample_aspect_ratio or 1)
        codec = ctx.name
        audio = tuple(a.codec_context.name for a in c.streams.audio)
        dropped = len(c.streams) - 1 - len(audio)  # the first video stream is used
    with _open_input(p) as c:  # a fresh open: seeking back is not reliable in every format
        try:
            first = next(c.decode(video=0), None)
        except av.FFmpegError as e:
            raise GramstyleError(f"{p}: the first frame cannot be decoded ({_reason(e)})") from None
        if first is None:
            raise GramstyleError(f"{p} has a video stream but no decodable frames")
        rotation = _rotation(getattr(first, "rotation", 0))
    return VideoInfo(
        path=p,
        container=fmt,
        codec=codec,
        width=width,
        height=height,
        sar=sar,
        rotation=rotation,
        rate=rate,
        time_base=Fraction(tb),
        start=pts[0] if pts else 0,
        frames=frames,
        vfr=vfr,
        audio=audio,
        dropped=dropped,
    )


def _frame_rate(
    average: Fraction | None, guessed: Fraction | None, pts: list[int], tb: Fraction
) -> Fraction:
    for r in (average, guessed):
        if r is not None and r > 0:
            return Fraction(r)
    if len(pts) > 1:  # from the median interval
        d = sorted(b - a for a, b in zip(pts, pts[1:], strict=False))[len(pts) // 2 - 1]
        if d > 0:
            return 1 / (d * tb)
    return Fraction(25)  # FFmpeg's own default for streams that say nothing


def _is_vfr(pts: list[int]) -> bool:
    """Whether sorted timestamps have intervals that differ beyond rounding."""
    d = [b - a for a, b in zip(pts, pts[1:], strict=False) if b > a]
    if len(d) < 2:
        return False
    median = sorted(d)[len(d) // 2]
    return max(d) - min(d) > 1 + VFR_TOLERANCE * median


def processing_size(info: VideoInfo, longest: int) -> tuple[tuple[int, int], list[str]]:
    """``((H, W), notes)``: upright frame size with longest side ``longest``, even sides.

    Frames are never upscaled: a ``longest`` above the clip's own keeps the clip's size
    and a note says so (an upscaled clip is a blurrier one, not a larger picture).
    yuv420p (what players expect from H.264) stores colour at half resolution, so both
    sides must be even: an odd side loses its last row or column, and a note says so.
    """
    notes = []
    W0, H0 = info.display_size
    if longest > max(W0, H0):
        notes.append(
            f"the clip is {W0}x{H0}: its frames are kept at that size, not upscaled to {longest} px"
        )
        longest = max(W0, H0)
    w, h = fit_size(W0, H0, longest)
    if w % 2 or h % 2:
        we, he = max(2, w - w % 2), max(2, h - h % 2)
        notes.append(
            f"frames at {w}x{h} are cropped to {we}x{he}: the yuv420p encoding needs even sides"
        )
        w, h = we, he
    return (h, w), notes


def frame_ticks(info: VideoInfo) -> Fraction:
    """The nominal interval between frames, in ticks of the stream's time base."""
    return 1 / (info.rate * info.time_base)
