"""Exact Gatys at any size: J(G) and its gradient computed tile by tile.

J is a sum over positions (the content cost) plus a function of the style matrices,
which are themselves sums over positions, ``G[l] = sum_ij a_ij a_ij^T``. So J and its
exact gradient come from two passes over tiles, with only one tile's activations in
memory at a time:

1. without gradients, accumulate every style layer's ``G[l]`` (one per mask region
   with masks) over the tiles' interiors; from the totals, ``dJ/dG[l]`` is known (a
   derivative of a small function of ``nC x nC`` matrices, taken by autograd);
2. recompute each tile with gradients and backpropagate its share: for style layers
   ``<dJ/dG[l], G[l](tile)>`` (whose gradient is ``2 dJ/dG[l] a`` on the tile's
   positions), for content layers the content cost of the tile's positions.

The last tile of pass 1 is computed with gradients and kept, so pass 2 starts with its
backward pass and recomputes one tile fewer. Pixel terms (total variation, video's
temporal cost) are cheap and computed on the whole image.

Exactness. A tile carries a halo of the network's receptive field beyond its interior
(:func:`halo`), and every interior boundary lies on a multiple of the pooling stride
(:func:`stride`), so max/avg pooling windows fall as in one pass over the whole image.
At a cut (a tile side inside the image) the convolutions are *valid*, without padding:
each drops one position of context, exactly what the layers after it no longer need
(:func:`needs`), so the deepest layer ends on the tile's interior and no position is
computed that is wrong or unused (this saves about a tenth of a tiled pass over padding
every side and cropping at the end). At the image's border a tile's edge *is* the image's
edge, so reflection padding and ``ceil_mode`` pooling of odd sizes act as in one pass:
no padding or cropping of the image is needed. The interior activations are those of
one pass, as functions of the pixels, so their gradients are too; the test compares
both in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..device import autocast
from ..method import ExtraCost
from ..nn.backbone import VGG19
from ..nn.geometry import Grid, Tile, halo, layer_size
from ..nn.losses import gram_cost, gram_matrix, tv_cost
from ..nn.masks import mask_at, region_cost
from ..settings import Settings
from .objective import Costs, Targets, blend_targets

# Passes over tiles ---------------------------------------------------------------------


@dataclass(frozen=True)
class TileProgress:
    """Progress over tiles: ``tile`` of ``tiles`` done in ``phase`` (0 = a stage's target
    activations, before its first step; 1 = an evaluation's style matrices; 2 = its
    gradients; 3 = J alone, as when a stage checks its last step's image), on an image
    of ``size`` ``(H, W)``. Handed to a callback, never printed."""

    phase: int
    tile: int
    tiles: int
    size: tuple[int, int] | None = None


OnTile = Callable[[TileProgress], None]


def _features(
    net: VGG19,
    x: Tensor,
    t: Tile,
    size: tuple[int, int],
    names: Sequence[str],
    dtype: torch.dtype | None,
) -> dict[str, Tensor]:
    """The activations of ``names`` on tile ``t``'s interior, from ``x``, the pixels of
    ``t.window(halo(names))`` of an image of ``size``.

    Convolutions pad only the sides that are the image's edges (as one pass does); at a
    cut they are valid, so the extent shrinks to what later layers need (:func:`needs`).
    """
    wanted, out = set(names), dict[str, Tensor]()
    if not wanted:
        return out
    window = t.window(halo(names))
    r0, c0, s = window[0].start, window[1].start, 1  # origin, in positions at stride s
    h = x.contiguous(memory_format=torch.channels_last)
    with autocast(x.device.type, dtype):
        h = net.prep(h)
        for name, layer in net.layers.items():
            if not wanted - out.keys():
                break
            if isinstance(layer, nn.Conv2d):
                n_r, n_c = math.ceil(size[0] / s), math.ceil(size[1] / s)
                edges = (c0 == 0, c0 + h.shape[-1] == n_c, r0 == 0, r0 + h.shape[-2] == n_r)
                h = _conv(layer, h, edges)
                r0, c0 = r0 + (not edges[2]), c0 + (not edges[0])
            else:
                h = layer(h)
                if name.startswith("pool"):
                    r0, c0, s = r0 // 2, c0 // 2, s * 2
            if name in wanted:
                r, c = t.rows, t.cols
                out[name] = h[
                    ...,
                    r.a // s - r0 : math.ceil(r.b / s) - r0,
                    c.a // s - c0 : math.ceil(c.b / s) - c0,
                ]
    return out


def _conv(layer: nn.Conv2d, h: Tensor, edges: tuple[bool, bool, bool, bool]) -> Tensor:
    """``layer`` with its padding on the image's ``edges`` (left, right, top, bottom)
    only: valid at cuts."""
    if all(edges):
        return layer(h)
    pad = tuple(int(e) for e in edges)
    if any(pad):
        mode = "reflect" if layer.padding_mode == "reflect" else "constant"
        h = F.pad(h, pad, mode=mode)
    return F.conv2d(h, layer.weight, layer.bias)


def tiled_features(
    net: VGG19,
    x: Tensor,
    names: Sequence[str],
    grid: Grid,
    dtype: torch.dtype | None = None,
    on_tile: OnTile | None = None,
) -> dict[str, Tensor]:
    """Activations ``{name: (1, nC, nH, nW)}`` of the whole image ``x``, assembled from
    the tiles' interiors without gradients (equal to one pass over ``x``)."""
    out: dict[str, Tensor] = {}
    for t, feats in _target_pass(net, x, names, grid, dtype, on_tile):
        for name in names:
            a = feats[name]
            if name not in out:
                out[name] = a.new_empty(1, a.shape[1], *layer_size(grid.size, name))
            out[name][(..., *grid.interior(t, name))] = a
    return out


def _target_pass(
    net: VGG19,
    x: Tensor,
    names: Sequence[str],
    grid: Grid,
    dtype: torch.dtype | None,
    on_tile: OnTile | None,
) -> Iterator[tuple[Tile, dict[str, Tensor]]]:
    """Each tile of ``x`` with its activations, without gradients; reported as phase 0."""
    with torch.no_grad():
        for i, t in enumerate(grid):
            yield t, _features(net, x[(..., *t.window(halo(names)))], t, grid.size, names, dtype)
            if on_tile is not None:
                on_tile(TileProgress(0, i + 1, len(grid), grid.size))


def tiled_style_targets(
    net: VGG19,
    image: Tensor,
    layers: Sequence[str],
    tile: int,
    dtype: torch.dtype | None = None,
    on_tile: OnTile | None = None,
    masks: Tensor | None = None,
) -> dict[str, Tensor]:
    """``G[l](S) / (nH nW)`` per layer, as :func:`gramstyle.gatys.objective.style_targets`, with
    the Gram matrices summed over tiles of at most ``tile`` px (``on_tile``: phase 0).
    ``masks`` ``(K, 1, h, w)`` (any size: taken to each layer's): each region's mask-weighted mean
    ``(K, nC, nC)`` instead, as :func:`gramstyle.nn.labels.masked_targets`."""
    grid = Grid((image.shape[-2], image.shape[-1]), tile, layers)
    at = {n: mask_at(masks, layer_size(grid.size, n)) for n in layers} if masks is not None else {}
    sums: dict[str, Tensor] = {}
    for t, feats in _target_pass(net, image, layers, grid, dtype, on_tile):
        for name in layers:
            a = feats[name]
            if at:  # as masks.masked_gram, tile by tile
                a = a.float() * at[name][(..., *grid.interior(t, name))].sqrt()
            g = gram_matrix(a)
            sums[name] = sums[name] + g if name in sums else g
    if at:
        area = {n: m.sum(dim=(-3, -2, -1)).clamp_min(1e-8)[:, None, None] for n, m in at.items()}
        return {n: g / area[n] for n, g in sums.items()}
    return {n: g / math.prod(layer_size(grid.size, n)) for n, g in sums.items()}


class TiledObjective:
    """:class:`gramstyle.gatys.objective.Objective`, computed tile by tile (see the module).

    Same arguments, plus ``tile`` (interior side in px) and ``on_tile`` (a callback
    receiving a :class:`TileProgress` after each tile). :meth:`value_and_grad` gives
    J and ``dJ/dx`` equal to the one-pass objective's up to float rounding; memory
    is one tile's activations plus the content's target activations.
    """

    def __init__(
        self,
        net: VGG19,
        settings: Settings,
        content: Tensor,
        styles: Sequence[Tensor],
        blend: Sequence[float] | None = None,
        dtype: torch.dtype | None = None,
        masks: Tensor | None = None,
        *,
        targets: dict[str, Tensor] | None = None,
        extra: ExtraCost | None = None,
        tile: int,
        on_tile: OnTile | None = None,
    ) -> None:
        s = settings
        self.net, self.s, self.dtype, self.extra, self.on_tile = net, s, dtype, extra, on_tile
        # Costs are float32 (float64 when the image is, as in the exactness test).
        self.real = torch.float64 if content.dtype == torch.float64 else torch.float32
        self.style_names = list(s.style_layers)
        self.content_names = list(s.content_layers)
        self.layers = list(dict.fromkeys([*self.content_names, *self.style_names]))
        size = (content.shape[-2], content.shape[-1])
        self.grid = Grid(size, tile, self.layers)
        self.style_halo = halo(self.style_names) if self.style_names else 0
        if targets is None:
            per_style = [
                tiled_style_targets(net, x, self.style_names, tile, dtype, on_tile) for x in styles
            ]
            targets = blend_targets(per_style, blend, stacked=masks is not None)
        a_C = tiled_features(net, content, self.content_names, self.grid, dtype, on_tile)
        self.targets = Targets(content=a_C, style=targets)
        # Per style layer: positions M = nH nW, or each region's mask at the layer's
        # size, its sum (the region's area in positions) and its mean.
        self.positions = {n: math.prod(layer_size(size, n)) for n in self.layers}
        self.masks: dict[str, Tensor] = {}
        self.area_sum: dict[str, Tensor] = {}
        self.area_mean: dict[str, Tensor] = {}
        if masks is not None:
            for n in self.style_names:
                m = mask_at(masks, layer_size(size, n)).to(content.device)
                self.masks[n] = m
                self.area_sum[n] = m.sum(dim=(-3, -2, -1)).clamp_min(1e-8)  # as masked_gram
                self.area_mean[n] = m.mean(dim=(-3, -2, -1))

    # Pieces ------------------------------------------------------------------------

    def _report(self, phase: int, i: int) -> None:
        if self.on_tile is not None:
            self.on_tile(TileProgress(phase, i + 1, len(self.grid), self.grid.size))

    def _features(self, x: Tensor, t: Tile, names: Sequence[str]) -> dict[str, Tensor]:
        return _features(self.net, x, t, self.grid.size, names, self.dtype)

    def _grams(self, feats: dict[str, Tensor], t: Tile) -> dict[str, Tensor]:
        """The tile interior's style matrices per style layer: ``(1, nC, nC)`` sums, or
        ``(K, nC, nC)`` mask-weighted sums with masks."""
        out = {}
        for n in self.style_names:
            a = feats[n]
            if self.masks:
                m = self.masks[n][(..., *self.grid.interior(t, n))]  # (K, 1, h, w)
                a = a * m.sqrt()  # (K, nC, h, w), as in masks.masked_gram
            out[n] = gram_matrix(a)
        return out

    def _content(self, feats: dict[str, Tensor], t: Tile) -> Tensor:
        """``J_content`` of the tile's interior positions (they sum to the whole's)."""
        J = torch.zeros((), dtype=self.real, device=feats[self.layers[0]].device)
        for n, w in self.s.content_layers.items():
            a = feats[n].to(self.real)
            a_C = self.targets.content[n][(..., *self.grid.interior(t, n))].to(self.real)
            diff = a_C - a
            J = J + w * (diff * diff).sum() / (4 * a.shape[1] * self.positions[n])
        return J

    def _style(self, sums: dict[str, Tensor]) -> dict[str, Tensor]:
        """``lambda[l] J_style[l]`` from the style matrices summed over all tiles."""
        out = {}
        for n, w in self.s.style_layers.items():
            T = self.targets.style[n]
            if self.masks:
                J = region_cost(T, sums[n] / self.area_sum[n][:, None, None], self.area_mean[n])
            else:
                J = gram_cost(T, sums[n] / self.positions[n])
            out[n] = w * J
        return out

    def _pixels(
        self, x: Tensor, need_grad: bool
    ) -> tuple[Tensor, dict[str, Tensor], Tensor | None]:
        """Total variation and the extra terms on the whole image (cheap), and their
        gradient when asked."""
        zero = x.new_zeros((), dtype=self.real)
        if not self.s.tv_weight and self.extra is None:
            return zero, {}, None
        with torch.enable_grad() if need_grad else torch.no_grad():
            G = x.detach().requires_grad_(need_grad)
            J_tv = tv_cost(G) if self.s.tv_weight else zero
            extra = self.extra(G) if self.extra is not None else {}
            J = self.s.tv_weight * J_tv + sum(extra.values(), zero)
            grad = None
            if need_grad and J.requires_grad:
                (grad,) = torch.autograd.grad(J, G)
        return J_tv.detach(), {n: v.detach() for n, v in extra.items()}, grad

    def _costs(
        self, J_content: Tensor, J_style: dict[str, Tensor], J_tv: Tensor, extra: dict[str, Tensor]
    ) -> Costs:
        s = self.s
        zero = J_content.new_zeros(())
        total = s.content_weight * J_content + s.beta * sum(J_style.values(), zero)
        if s.tv_weight:
            total = total + s.tv_weight * J_tv
        if extra:
            total = total + sum(extra.values(), zero)
        return Costs(
            total=total.detach(),
            content=J_content.detach(),
            style={n: v.detach() for n, v in J_style.items()},
            tv=J_tv,
            extra=extra,
        )

    # J and its gradient ------------------------------------------------------------

    def __call__(self, G: Tensor) -> Costs:
        """J at ``G`` (one pass over the tiles, no gradient); the costs are detached."""
        x = G.detach()
        sums: dict[str, Tensor] = {}
        J_content = x.new_zeros((), dtype=self.real)
        with torch.no_grad():
            for i, t in enumerate(self.grid):
                feats = self._features(x[(..., *t.pixels)], t, self.layers)
                _add(sums, self._grams(feats, t))
                J_content = J_content + self._content(feats, t)
                self._report(3, i)
        J_tv, extra, _ = self._pixels(x, need_grad=False)
        return self._costs(J_content, self._style(sums), J_tv, extra)

    def value_and_grad(self, x: Tensor) -> tuple[Costs, Tensor]:
        """J at ``x`` and ``dJ/dx`` (two passes over the tiles), detached."""
        x = x.detach()
        *first, last = self.grid.tiles
        n = len(self.grid)
        # Pass 1: the style matrices of the whole image, without gradients...
        sums: dict[str, Tensor] = {}
        for i, t in enumerate(first):
            with torch.no_grad():
                feats = self._features(x[(..., *t.window(self.style_halo))], t, self.style_names)
                _add(sums, self._grams(feats, t))
            del feats
            self._report(1, i)
        # ... but the last tile with them: its graph serves pass 2 as well.
        with torch.enable_grad():
            x_last = x[(..., *last.pixels)].detach().requires_grad_(True)
            feats = self._features(x_last, last, self.layers)
        with torch.no_grad():
            _add(sums, self._grams({k: f.detach() for k, f in feats.items()}, last))
        self._report(1, n - 1)
        J_style, dG = self._style_gradient(sums)
        # Pass 2: each tile's share of the gradient, the kept tile first.
        grad = torch.zeros_like(x)
        g_t, J_content = self._share(x_last, feats, last, dG)
        grad[(..., *last.pixels)] += g_t
        del x_last, feats, g_t
        self._report(2, 0)
        for i, t in enumerate(first, start=1):
            with torch.enable_grad():
                x_t = x[(..., *t.pixels)].detach().requires_grad_(True)
                feats = self._features(x_t, t, self.layers)
            g_t, J_t = self._share(x_t, feats, t, dG)
            grad[(..., *t.pixels)] += g_t
            J_content = J_content + J_t
            del x_t, feats, g_t
            self._report(2, i)
        J_tv, extra, g_px = self._pixels(x, need_grad=True)
        if g_px is not None:
            grad += g_px
        return self._costs(J_content, J_style, J_tv, extra), grad

    def _style_gradient(
        self, sums: dict[str, Tensor]
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``lambda[l] J_style[l]`` and ``d(beta J_style)/dG[l]`` from the summed style
        matrices (autograd on a small function of ``nC x nC`` matrices)."""
        with torch.enable_grad():
            leaves = {k: g.detach().requires_grad_(True) for k, g in sums.items()}
            J_style = self._style(leaves)
            if not leaves:
                return {}, {}
            J = self.s.beta * sum(J_style.values(), torch.zeros((), dtype=self.real))
            dG = torch.autograd.grad(J, list(leaves.values()))
        return ({k: v.detach() for k, v in J_style.items()}, dict(zip(leaves, dG, strict=True)))

    def _share(
        self, x_t: Tensor, feats: dict[str, Tensor], t: Tile, dG: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """The tile's share of ``dJ/dx`` (over its pixels) and of ``J_content``.

        Backpropagates ``alpha J_content(tile) + sum_l <dJ/dG[l], G[l](tile)>``, whose
        gradient is the tile's part of the exact one.
        """
        with torch.enable_grad():
            J_content = self._content(feats, t)
            L = self.s.content_weight * J_content
            for k, g in self._grams(feats, t).items():
                L = L + (dG[k] * g).sum()
            (g_t,) = torch.autograd.grad(L, x_t)
        return g_t, J_content.detach()


def _add(sums: dict[str, Tensor], grams: dict[str, Tensor]) -> None:
    for k, g in grams.items():
        sums[k] = sums[k] + g if k in sums else g
