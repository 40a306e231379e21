"""Video: :func:`stylize_video` and ``gramstyle video``, temporally consistent, sound kept.

PyAV and OpenCV (the ``video`` extra) are imported only when a video is read, written
or its flow estimated, and torch only when a name below is first used, so
``import gramstyle`` and ``gramstyle --help`` stay light.

Modules: :mod:`~gramstyle.video.probe`, :mod:`~gramstyle.video.read` and
:mod:`~gramstyle.video.write` (what a file holds, decoding, encoding with the audio),
:mod:`~gramstyle.video.flow` (DIS flow, warping, Ruder et al.'s masks),
:mod:`~gramstyle.video.temporal` (temporal cost, E_warp), :mod:`~gramstyle.video.run`
(the per-frame loop, resumable), :mod:`~gramstyle.video.settings` (the video knobs),
:mod:`~gramstyle.video.synthetic` (known-flow clips); the command is :mod:`gramstyle.cli.video`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .settings import VideoSettings

_LAZY = {
    name: "run"
    for name in (
        "FrameDone",
        "FrameStep",
        "VideoDone",
        "VideoRecord",
        "VideoStart",
        "stylize_video",
    )
}

if TYPE_CHECKING:
    from .run import FrameDone, FrameStep, VideoDone, VideoRecord, VideoStart, stylize_video

__all__ = [
    "FrameDone",
    "FrameStep",
    "VideoDone",
    "VideoRecord",
    "VideoSettings",
    "VideoStart",
    "stylize_video",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gramstyle.video' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
