"""Video: :func:`stylize_video` and ``gramstyle video``, temporally consistent, sound kept.

PyAV and OpenCV (the ``video`` extra) are imported only when a video is read, written
or its flow estimated, so ``import gramstyle`` stays light.

Modules: :mod:`~gramstyle.video.io` (probe, decode, encode, audio remux),
:mod:`~gramstyle.video.flow` (DIS flow, warping, Ruder et al.'s masks),
:mod:`~gramstyle.video.temporal` (temporal cost, E_warp), :mod:`~gramstyle.video.run`
(the per-frame loop, resumable), :mod:`~gramstyle.video.synthetic` (known-flow clips),
:mod:`~gramstyle.video.cli` (the command).
"""

from .run import (
    DEFAULT_TEMPORAL_WEIGHT,
    FrameDone,
    FrameStep,
    VideoDone,
    VideoRecord,
    VideoSettings,
    VideoStart,
    stylize_video,
)

__all__ = [
    "DEFAULT_TEMPORAL_WEIGHT",
    "FrameDone",
    "FrameStep",
    "VideoDone",
    "VideoRecord",
    "VideoSettings",
    "VideoStart",
    "stylize_video",
]
