"""What a user asks for — inputs, blend, masks, an output — checked before anything heavy.

Nothing here imports torch, and Pillow only when files are checked: a command refuses
a bad path, a FIFO, an undecodable image or a bad blend in its first second
(:func:`check_request`), before the network and the method's own checks
(:func:`gramstyle.inputs.prepare`); building a command's parser loads neither.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from .errors import GramstyleError


def as_list(style: Any) -> list[Any]:
    """One style or several -> a list."""
    return list(style) if isinstance(style, (list, tuple)) else [style]


def blend_weights(blend: Sequence[float] | None, n_styles: int) -> list[float] | None:
    """The styles' blend weights checked (one per style, finite, not negative, not all
    zero) and normalised to sum 1; None stays None.

    >>> blend_weights([3, 1], 2)
    [0.75, 0.25]
    """
    if blend is None:
        return None
    w = [float(v) for v in blend]
    if len(w) != n_styles:
        raise GramstyleError(f"{len(w)} blend weights for {n_styles} styles")
    if not all(math.isfinite(v) and v >= 0 for v in w):
        raise GramstyleError(f"style blend weights must be finite and not negative, got {w}")
    if sum(w) == 0:
        raise GramstyleError("style blend weights are all zero")
    return [v / sum(w) for v in w]


def check_labels(
    content_labels: Any, style_labels: Sequence[Any] | None, n_styles: int, masks: Any = None
) -> None:
    """Label maps come as a pair: the content's and one per style image (or none), and
    not together with masks (both say where each style goes)."""
    if content_labels is None and not style_labels:
        return
    if content_labels is None or not style_labels:
        raise GramstyleError(
            "give the content's label map and one label map per style image, or neither"
        )
    if len(style_labels) != n_styles:
        n, k = len(style_labels), n_styles
        raise GramstyleError(
            f"{n} style label map{'s' if n != 1 else ''} for {k} style{'s' if k != 1 else ''}:"
            " give one per style image"
        )
    if masks is not None:
        raise GramstyleError("give masks or label maps, not both")


def check_request(
    content: Any,
    styles: Sequence[Any],
    output: str | os.PathLike | None = None,
    *,
    blend: Sequence[float] | None = None,
    masks: Sequence[Any] | None = None,
    content_labels: Any = None,
    style_labels: Sequence[Any] | None = None,
    overwrite: bool = False,
    also_writes: Sequence[str | os.PathLike] = (),
) -> None:
    """Everything a stylisation reads and writes, cheapest first: the output (and
    ``also_writes``, other files it will write), the input files (fully decoded), the
    blend weights, the masks and the label maps. Images given as PIL images or tensors
    pass."""
    from .decode import check_image_file
    from .image import check_output

    if output is not None:
        check_output(output, overwrite)
    for path in also_writes:
        check_output(path, overwrite, "snapshot", probe=False)
    for x, what in [(content, "content image"), *((x, "style image") for x in styles)]:
        if isinstance(x, (str, os.PathLike)):
            check_image_file(x, what)
    if not styles:
        raise GramstyleError("no style image given")
    blend_weights(blend, len(styles))
    if masks is not None:
        if blend is not None:
            raise GramstyleError("give style blend weights or masks, not both")
        if len(masks) != len(styles):
            n, k = len(masks), len(styles)
            raise GramstyleError(
                f"{n} mask{'s' if n != 1 else ''} for {k} style{'s' if k != 1 else ''}: "
                "give one mask per style image"
            )
        for i, m in enumerate(masks, start=1):
            if isinstance(m, (str, os.PathLike)):
                check_image_file(m, f"mask {i}")
    style_labels = as_list(style_labels) if style_labels is not None else None
    check_labels(content_labels, style_labels, len(styles), masks)
    several = style_labels is not None and len(style_labels) > 1
    named = [(content_labels, "content labels")] + [
        (x, f"style {i} labels" if several else "style labels")
        for i, x in enumerate(style_labels or (), start=1)
    ]
    for x, what in named:
        if isinstance(x, (str, os.PathLike)):
            check_image_file(x, what)
