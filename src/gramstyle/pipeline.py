"""``stylize`` / ``stylize_iter``: one call, one picture.

Calls share a per-process :class:`Stylizer` for each pair of networks
(:func:`session_for`), so a second call reuses the loaded network and the style's
targets.

For many pictures (a web worker, video frames, a batch) hold one
:class:`~gramstyle.session.Stylizer` instead: the network and the style targets are then
loaded and computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from PIL import Image
from torch import Tensor

from .adain import Decoder
from .backbone import VGG19
from .config import Settings
from .image import ImageLike
from .plan import Estimate, Plan
from .prepare import blend_weights
from .run import StepRecord
from .session import Stylizer, default_backbone
from .tiles import OnTile

__all__ = [
    "StepRecord", "blend_weights", "default_backbone", "session_for", "stylize", "stylize_iter",
]  # fmt: skip


@lru_cache(maxsize=4)
def session_for(backbone: VGG19 | None = None, decoder: Decoder | None = None) -> Stylizer:
    """The process's session for these networks (None: the real ones), made once."""
    return Stylizer(backbone=backbone, decoder=decoder)


def stylize_iter(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
    decoder: Decoder | None = None,
    on_plan: Callable[[Plan, Estimate], None] | None = None,
    on_tile: OnTile | None = None,
    **overrides: Any,
) -> Iterator[StepRecord]:
    """Run the optimisation and yield a :class:`StepRecord` after every step.

    See :meth:`Stylizer.stylize_iter`; ``backbone``/``decoder`` replace the real
    networks (tests pass tiny random ones).
    """
    session = session_for(backbone, decoder)
    return session.stylize_iter(content, style, settings, blend=blend, masks=masks,
                                on_plan=on_plan, on_tile=on_tile, **overrides)  # fmt: skip


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
    decoder: Decoder | None = None,
    callback: Callable[[StepRecord], None] | None = None,
    **overrides: Any,
) -> Image.Image | Tensor:
    """Repaint ``content`` in the style of ``style`` (Gatys et al.); return the image.

    ``content``/``style``: paths, PIL images or ``(1, 3, H, W)`` tensors in [0, 1].
    Settings come from ``settings`` and/or keyword overrides (see :class:`Settings`).
    ``method="adain"`` gives a fast feed-forward result instead (see :mod:`gramstyle.adain`).
    ``blend``/``masks``: see :meth:`Stylizer.stylize_iter`. ``callback`` receives a
    :class:`StepRecord` per step. Returns a PIL image, or a tensor on the content's
    device if ``content`` was a tensor.
    """
    session = session_for(backbone, decoder)
    return session.stylize(content, style, settings, blend=blend, masks=masks,
                           callback=callback, **overrides)  # fmt: skip
