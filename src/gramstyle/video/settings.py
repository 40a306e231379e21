"""Video-only settings (image settings stay in :class:`~gramstyle.settings.Settings`).

Kept apart from :mod:`~gramstyle.video.run` so the CLI builds its parser without
importing torch, PyAV or OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import registry
from ..errors import GramstyleError


def _opt(help: str, **extra: Any) -> dict[str, Any]:
    return {"help": help, **extra}


@dataclass(frozen=True)
class VideoSettings:
    """Video-only knobs (image settings stay in :class:`~gramstyle.settings.Settings`)."""

    temporal_weight: float | None = field(
        default=None,
        metadata=_opt(
            "weight W of the temporal cost tying each frame to the warped earlier outputs; "
            "0 stylises every frame on its own (default: the method's own)"
        ),
    )
    frame_steps: int = field(
        default=40,
        metadata=_opt(
            "optimiser steps for each frame after the first (one scale at full size, "
            "started from the warped previous output; one-pass methods take none)"
        ),
    )
    long_term: tuple[int, ...] | None = field(
        default=None,
        metadata=_opt(
            "earlier frames each frame is tied to, e.g. 1,2,4 (Ruder et al.; default: the "
            "method's own)"
        ),
    )
    grid_align: bool = field(
        default=True,
        metadata=_opt(
            "one-pass methods whose strokes move only in steps of their network's stride "
            "(AdaIN: 8 px): shift each frame by the camera's motion (the median flow) "
            "modulo that grid, so a pan repaints the same strokes instead of new ones"
        ),
    )
    flow_preset: str = field(
        default="medium",
        metadata=_opt("OpenCV DIS optical flow preset", choices=("ultrafast", "fast", "medium")),
    )
    crf: int = field(default=18, metadata=_opt("x264 quality: lower is better and larger, 0-51"))

    def __post_init__(self) -> None:
        if self.temporal_weight is not None and not self.temporal_weight >= 0:
            raise GramstyleError(
                f"temporal weight must not be negative, got {self.temporal_weight}"
            )
        if self.frame_steps < 0:
            raise GramstyleError("frame steps must not be negative")
        if self.long_term is not None and (not self.long_term or min(self.long_term) < 1):
            raise GramstyleError(f"long-term offsets must be 1 or more, got {self.long_term}")
        if not 0 <= self.crf <= 51:
            raise GramstyleError(f"crf must be in 0..51, got {self.crf}")

    def offsets(self, method: str) -> tuple[int, ...]:
        """``long_term`` (sorted, unique), or the method's default when unset."""
        return tuple(sorted(set(self.long_term or registry.info(method).temporal.long_term)))

    def weight(self, method: str) -> float:
        """``temporal_weight``, or the method's default when unset."""
        if self.temporal_weight is not None:
            return self.temporal_weight
        return registry.info(method).temporal.weight
