"""Frames out of a video, one at a time: ``(1, 3, H, W)`` float32 RGB in [0, 1],
upright (the display matrix honoured), at the processing size, streamed, each with its
own timestamp."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import GramstyleError
from .probe import VideoInfo, _av, _open_input, _reason, frame_ticks


@dataclass(frozen=True)
class Frame:
    """One decoded frame: ``index`` from 0, ``pts`` in the stream's time base, and
    ``image`` ``(1, 3, H, W)`` float32 RGB in [0, 1], upright, at the asked size."""

    index: int
    pts: int
    image: Tensor


def read_frames(
    info: VideoInfo, size: tuple[int, int], notes: list[str] | None = None
) -> Iterator[Frame]:
    """Decode every frame of ``info``'s first video stream, resized to ``size`` ``(H, W)``
    upright (an odd source side is cropped by one, see :func:`processing_size`).

    Frames without a timestamp get ``start + index * 1/rate``. A stream that breaks off
    (a truncated download) ends the iteration, with a note appended to ``notes`` when
    fewer frames came out than the container lists.
    """
    av = _av()
    H, W = size
    k = info.rotation // 90
    # The scaler works in the coded orientation; rotate after (swscale cannot rotate).
    ch, cw = (W, H) if k % 2 else (H, W)
    ticks = frame_ticks(info)
    with _open_input(info.path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        last_pts: int | None = None
        try:
            for fr in c.decode(stream):
                pts = fr.pts if fr.pts is not None else info.start + round(index * ticks)
                if last_pts is not None and pts <= last_pts:  # keep timestamps increasing
                    pts = last_pts + 1
                last_pts = pts
                yield Frame(index, pts, _to_tensor(av, fr, ch, cw, k))
                index += 1
        except av.FFmpegError as e:
            if index == 0:
                raise GramstyleError(
                    f"{info.path}: no frame could be decoded ({_reason(e)})"
                ) from None
        if index < info.frames and notes is not None:
            notes.append(
                f"only {index} of the {info.frames} frames of {info.path} could be decoded "
                "(is it truncated?); the output has those"
            )


def _to_tensor(av: Any, fr: Any, h: int, w: int, k: int) -> Tensor:
    from av.video.reformatter import ColorRange, Interpolation

    shrink = w * h < fr.width * fr.height
    a = fr.to_ndarray(
        width=w,
        height=h,
        format="rgb24",
        interpolation=Interpolation.AREA if shrink else Interpolation.BICUBIC,
        src_color_range=ColorRange.JPEG if fr.color_range == ColorRange.JPEG else None,
    )
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).unsqueeze(0)
    x = x.float().div_(255.0)
    return torch.rot90(x, k, dims=(-2, -1)).contiguous() if k else x
