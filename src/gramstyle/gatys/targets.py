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
from ..method import OnTile, Session
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

    ``tile``: a style larger than this is passed through the network in tiles (the
    targets are the same; memory is bounded), reporting each to ``on_tile``.
    """
    s = prep.settings
    net = session.network(s)
    layers = tuple(s.style_layers)

    def compute(x: Tensor, z: int) -> dict[str, Tensor]:
        x = resize(x, z)
        if tile is not None and max(x.shape[-2:]) > tile:
            return tiled_style_targets(net, x, list(layers), tile, dtype, on_tile)
        return one_pass_targets(net, x, list(layers), dtype)

    per_style = [
        session.cached(("gatys-targets", id(net), key, z, layers, dtype), partial(compute, x, z))
        for key, x, z in zip(prep.style_keys, prep.styles, prep.style_sides(side), strict=True)
    ]
    return blend_targets(per_style, prep.blend, stacked=prep.masks is not None)
