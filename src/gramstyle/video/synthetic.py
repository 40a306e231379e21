"""Test clips whose optical flow is known exactly: a pan or a zoom over a photo.

Used by the tests and ``benchmarks/video.py`` so that the warping error (Lai et al.
2018) of a stylised clip does not depend on a flow estimate. Pixel coordinates are
``(x, y) = (column, row)`` of pixel centres, as in :func:`gramstyle.video.flow.warp`.

- ``pan``: frame ``t`` is the window of the photo at offset ``o_t = t * (vx, vy)``
  (whole pixels), so the flow from frame ``t`` to ``t+1`` is ``-(vx, vy)`` everywhere
  and warping is exact (no interpolation).
- ``zoom``: frame ``t`` shows the photo magnified ``r^t`` about the frame centre ``c``,
  so the flow from ``t`` to ``t+1`` is ``(r - 1) (p - c)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from ..image import resize

#: The NTSC film rate: the case where rounding to 23.976 drifts out of sync.
NTSC_FILM = Fraction(24000, 1001)


@dataclass(frozen=True)
class Motion:
    """The exact motion of a synthetic clip of ``frames`` frames of ``size`` ``(H, W)``."""

    kind: str  # "pan" or "zoom"
    size: tuple[int, int]
    frames: int
    velocity: tuple[int, int] = (2, 1)  # pan: (vx, vy) in whole pixels per frame
    ratio: float = 1.01  # zoom: magnification from one frame to the next

    def flow(self, t: int) -> Tensor:
        """Flow from frame ``t`` to ``t + 1``, ``(1, 2, H, W)`` (channel 0 = x)."""
        H, W = self.size
        if self.kind == "pan":
            vx, vy = self.velocity
            f = torch.empty(1, 2, H, W)
            f[:, 0], f[:, 1] = -float(vx), -float(vy)
            return f
        yy, xx = torch.meshgrid(
            torch.arange(H, dtype=torch.float32),
            torch.arange(W, dtype=torch.float32),
            indexing="ij",
        )
        cx, cy = (W - 1) / 2, (H - 1) / 2
        k = self.ratio - 1
        return torch.stack([k * (xx - cx), k * (yy - cy)]).unsqueeze(0)

    def mask(self, t: int) -> Tensor:
        """``(1, 1, H, W)``: 1 where ``p + flow(t)(p)`` lies inside frame ``t + 1``."""
        H, W = self.size
        f = self.flow(t)
        yy, xx = torch.meshgrid(
            torch.arange(H, dtype=torch.float32),
            torch.arange(W, dtype=torch.float32),
            indexing="ij",
        )
        x, y = xx + f[0, 0], yy + f[0, 1]
        inside = (x >= 0) & (x <= W - 1) & (y >= 0) & (y <= H - 1)
        return inside.float()[None, None]


def render(photo: Tensor, motion: Motion) -> list[Tensor]:
    """The clip's frames ``(1, 3, H, W)`` in [0, 1] (small clips: they are all returned)."""
    H, W = motion.size
    n = motion.frames
    if motion.kind == "pan":
        vx, vy = motion.velocity
        need_h, need_w = H + abs(vy) * (n - 1), W + abs(vx) * (n - 1)
        ph, pw = photo.shape[-2:]
        s = max(need_h / ph, need_w / pw)
        src = resize(photo, (max(need_h, round(ph * s)), max(need_w, round(pw * s))))
        x0 = 0 if vx >= 0 else -vx * (n - 1)
        y0 = 0 if vy >= 0 else -vy * (n - 1)
        return [
            src[..., y0 + vy * t : y0 + vy * t + H, x0 + vx * t : x0 + vx * t + W].clone()
            for t in range(n)
        ]
    if motion.kind != "zoom":
        raise ValueError(f"motion must be pan or zoom, not {motion.kind!r}")
    # The photo covering the frame; zooming in only magnifies it (no aliasing).
    ph, pw = photo.shape[-2:]
    s = max(H / ph, W / pw)
    base = resize(photo, (max(H, round(ph * s)), max(W, round(pw * s))))
    bh, bw = base.shape[-2:]
    yy, xx = torch.meshgrid(
        torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij"
    )
    cx, cy = (W - 1) / 2, (H - 1) / 2
    frames = []
    for t in range(n):
        z = motion.ratio**t
        u = (bw - 1) / 2 + (xx - cx) / z  # base pixel coordinates of each frame pixel
        v = (bh - 1) / 2 + (yy - cy) / z
        grid = torch.stack([2 * u / (bw - 1) - 1, 2 * v / (bh - 1) - 1], dim=-1)[None]
        frames.append(
            F.grid_sample(
                base, grid, mode="bicubic", padding_mode="border", align_corners=True
            ).clamp(0, 1)
        )
    return frames


def write_clip(
    path: str | os.PathLike,
    frames: list[Tensor],
    rate: Fraction = NTSC_FILM,
    *,
    audio_hz: float | None = 440.0,
    sample_rate: int = 48000,
    rotation: int = 0,
    crf: int = 10,
    codec: str = "libx264",
    pts: list[int] | None = None,
) -> Path:
    """Write frames as an H.264 file at ``rate`` with a sine tone (AAC) of the clip's length.

    ``rotation``: store the frames turned by ``-rotation`` and tag the stream with a
    display matrix of ``rotation`` degrees counter-clockwise, so a player that honours
    it shows the original frames. ``pts``: each frame's timestamp in units of
    ``1/rate`` (default ``0, 1, 2, ...``; uneven steps make a variable-rate clip).
    """
    import av

    p = Path(path)
    H, W = frames[0].shape[-2:]
    k = (rotation // 90) % 4
    sh, sw = (W, H) if k % 2 else (H, W)
    with av.open(str(p), "w") as out:
        vs: Any = out.add_stream(codec, rate=rate)  # a VideoStream
        # 4:2:0 needs even sides; 4:4:4 makes odd-sized test clips possible.
        vs.width, vs.height = sw, sh
        vs.pix_fmt = "yuv420p" if sw % 2 == 0 and sh % 2 == 0 else "yuv444p"
        vs.codec_context.time_base = 1 / rate
        if codec == "libx264":
            vs.options = {"crf": str(crf), "preset": "fast"}
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio_hz is not None:
            aus = out.add_stream("aac", rate=sample_rate)
            aus.layout = "mono"
        for i, x in enumerate(frames):
            x = torch.rot90(x, -k, dims=(-2, -1)) if k else x
            a = x[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
            f.pts, f.time_base = (i if pts is None else pts[i]), 1 / rate
            for pkt in vs.encode(f):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
        if aus is not None:
            assert audio_hz is not None
            n = round(sample_rate * ((pts[-1] + 1) if pts else len(frames)) / rate)
            t = np.arange(n) / sample_rate
            samples = (0.3 * np.sin(2 * np.pi * audio_hz * t)).astype(np.float32)
            for k0 in range(0, n, 1024):
                chunk = samples[k0 : k0 + 1024][None, :]
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = sample_rate, k0, Fraction(1, sample_rate)
                for pkt in aus.encode(af):
                    out.mux(pkt)
            for pkt in aus.encode(None):
                out.mux(pkt)
    return p


def make_clip(
    path: str | os.PathLike,
    photo: Tensor,
    kind: str = "pan",
    frames: int = 24,
    size: tuple[int, int] = (144, 256),
    rate: Fraction = NTSC_FILM,
    **write_options,
) -> Motion:
    """Render a ``kind`` clip over ``photo`` ``(1, 3, h, w)`` into ``path``; return its motion."""
    motion = Motion(kind=kind, size=size, frames=frames)
    write_clip(path, render(photo, motion), rate, **write_options)
    return motion
