"""The style targets of a stage, computed once per style, size and precision.

A session keeps them (:meth:`gramstyle.session.Stylizer.cached`), so a second picture
in the same style, or a video's next frame, skips the style's network passes.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from ..image import resize
from ..inputs import Prepared
from ..keys import fingerprint
from ..method import OnTile, Session
from ..nn.labels import masked_targets
from .objective import blend_targets
from .objective import style_targets as one_pass_targets
from .tiles import tiled_style_targets


def style_targets(
    session: Session,
    prep: Prepared,
    side: int,
    dtype: torch.dtype | None,
    tile: int | None = None,
    on_tile: OnTile | None = None,
) -> dict[str, Tensor]:
    """Style targets of ``prep``'s styles shown at ``side`` (each fitted to it by
    ``style_fit``: :meth:`Prepared.style_sides`), mixed (or stacked for masks).

    With label maps each style's targets are one per region ``(K, nC, nC)``, its
    region of each label (:func:`gramstyle.nn.labels.masked_targets`), mixed over
    the styles. ``tile``: a style larger than this is passed through the network in
    tiles (the targets are the same; memory is bounded), reporting each to ``on_tile``.
    """
    s = prep.settings
    net = session.network(s)
    layers = tuple(s.style_layers)
    n = len(prep.styles)
    regions = prep.labels.styles if prep.labels is not None else (None,) * n

    def compute(x: Tensor, z: int, m: Tensor | None) -> dict[str, Tensor]:
        x = resize(x, z)  # masks are taken to each layer's size from their own
        if tile is not None and max(x.shape[-2:]) > tile:
            return tiled_style_targets(net, x, list(layers), tile, dtype, on_tile, masks=m)
        if m is not None:
            return masked_targets(net, x, m, list(layers), dtype)
        return one_pass_targets(net, x, list(layers), dtype)

    per_style = [
        session.cached(
            ("gatys-targets", id(net), key, z, layers, dtype, m is not None and fingerprint(m)),
            partial(compute, x, z, m),
        )
        for key, x, z, m in zip(
            prep.style_keys, prep.styles, prep.style_sides(side), regions, strict=True
        )
    ]
    return blend_targets(per_style, prep.blend, stacked=prep.masks is not None)
