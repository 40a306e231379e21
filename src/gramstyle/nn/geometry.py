"""Where tiles fall: receptive fields, strides and the cuts of an image into tiles.

Pure arithmetic on VGG19's layer table, shared by the exact tiled Gatys passes
(:mod:`gramstyle.gatys.tiles`), their memory model and AdaIN's overlapping tiles. A
tile's *interior* is the part of the image it answers for; its *extent* adds a halo of
context (the receptive field of the deepest layer used), so layers see there exactly
what one pass over the whole image would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .backbone import LAYER_NAMES, deepest


def pools_before(name: str) -> int:
    """Pooling layers before ``name``: its activations have stride ``2**pools_before``."""
    return sum(1 for n in LAYER_NAMES[: LAYER_NAMES.index(name)] if n.startswith("pool"))


def stride(names: Sequence[str]) -> int:
    """Pixels per position of the deepest layer: tile boundaries are multiples of it.

    >>> stride(["relu1_1"]), stride(["relu3_1", "relu4_2"])
    (1, 8)
    """
    return 2 ** pools_before(deepest(names))


def needs(names: Sequence[str]) -> dict[str, int]:
    """Positions of context beyond a tile's interior that each layer's output must keep
    for the layers after it, up to the deepest of ``names``; ``"input"``: pixels.

    Walks the network backwards: a 3x3 convolution needs one more position of its input
    than of its output, a 2x2 pooling twice its output's (so cuts before a pooling fall
    on even positions).

    >>> n = needs(["relu4_2"]); n["relu4_2"], n["pool3"], n["relu1_1"], n["input"]
    (0, 2, 37, 38)
    """
    m, out = 0, {}
    for name in reversed(LAYER_NAMES[: LAYER_NAMES.index(deepest(names)) + 1]):
        out[name] = m
        if name.startswith("conv"):
            m += 1
        elif name.startswith("pool"):
            m *= 2
    out["input"] = m
    return out


def halo(names: Sequence[str]) -> int:
    """Pixels of context a tile needs beyond its interior: the receptive field.

    >>> halo(["relu1_1"]), halo(["relu4_1"]), halo(["relu4_2"]), halo(["relu5_1"])
    (1, 30, 38, 70)
    """
    return needs(names)["input"]


def layer_size(size: tuple[int, int], name: str) -> tuple[int, int]:
    """``(nH, nW)`` of layer ``name`` for an image of ``size`` (pooling rounds up)."""
    s = 2 ** pools_before(name)
    return math.ceil(size[0] / s), math.ceil(size[1] / s)


@dataclass(frozen=True)
class Span:
    """One axis of a tile: interior ``[a, b)`` and the extent ``[lo, hi)`` computed."""

    lo: int
    hi: int
    a: int
    b: int


def spans(n: int, tile: int, halo: int, stride: int) -> list[Span]:
    """Cut ``[0, n)`` into interiors of at most ``tile`` px (a multiple of ``stride``),
    as equal as the stride allows, each with ``halo`` px of context inside the image.

    >>> [(s.lo, s.hi, s.a, s.b) for s in spans(100, 64, 16, 8)]
    [(0, 72, 0, 56), (40, 100, 56, 100)]
    """
    count = math.ceil(n / tile)
    step = math.ceil(n / count / stride) * stride  # <= tile, as tile is a multiple of stride
    return [
        Span(max(0, a - halo), min(n, a + step + halo), a, min(n, a + step))
        for a in range(0, n, step)
    ]


@dataclass(frozen=True)
class Tile:
    rows: Span
    cols: Span

    @property
    def pixels(self) -> tuple[slice, slice]:
        """Slices of the image this tile computes (interior and halo)."""
        return slice(self.rows.lo, self.rows.hi), slice(self.cols.lo, self.cols.hi)

    @property
    def area(self) -> int:
        return (self.rows.hi - self.rows.lo) * (self.cols.hi - self.cols.lo)

    def window(self, halo: int) -> tuple[slice, slice]:
        """The pixels a pass to shallower layers reads: ``halo`` (at most the tile's)
        around the interior."""
        r, c = self.rows, self.cols
        return (
            slice(max(r.lo, r.a - halo), min(r.hi, r.b + halo)),
            slice(max(c.lo, c.a - halo), min(c.hi, c.b + halo)),
        )


class Grid:
    """The tiles of an image of ``size = (H, W)`` for the network up to ``names``'s
    deepest layer; interiors at most ``tile`` px a side (rounded down to the stride)."""

    def __init__(self, size: tuple[int, int], tile: int, names: Sequence[str]) -> None:
        self.size = size
        self.stride, self.halo = stride(names), halo(names)
        t = max(self.stride, tile // self.stride * self.stride)
        self.tile = t
        rows = spans(size[0], t, self.halo, self.stride)
        cols = spans(size[1], t, self.halo, self.stride)
        self.tiles = [Tile(r, c) for r in rows for c in cols]

    def __len__(self) -> int:
        return len(self.tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)

    @property
    def area(self) -> int:
        """Pixels computed per pass over all tiles (the halos counted again)."""
        return sum(t.area for t in self.tiles)

    def interior(self, tile: Tile, name: str) -> tuple[slice, slice]:
        """Where the tile's interior lies in layer ``name``'s full activation."""
        s = 2 ** pools_before(name)
        r, c = tile.rows, tile.cols
        # Interior edges are multiples of s, or the image's edge (ceil, as pooling does).
        return (slice(r.a // s, math.ceil(r.b / s)), slice(c.a // s, math.ceil(c.b / s)))
