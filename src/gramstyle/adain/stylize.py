"""AdaIN's passes: encode, transfer the statistics, decode, tile by tile when large.

Memory is bounded by tiling: an image whose padded longest side exceeds ``tile`` is
processed in ``tile``-sized pieces, each encoded and decoded with ``overlap`` pixels of
context on every side. The content statistics AdaIN needs are global, so they are
accumulated over all tiles first (a second encoder pass per tile) and every tile is
then shifted and scaled with the same numbers; peak memory is one padded tile's
activations plus the input and output images, whatever the image size.

:func:`adain_stylize` is the plain reference (the networks as given, nothing kept);
:class:`~gramstyle.adain.engine.AdainModel` is the fast engine for repeated calls.
Both share the tiling (:func:`stylize_tiled`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from ..device import autocast
from ..errors import GramstyleError
from ..nn.backbone import VGG19
from ..nn.geometry import Span, spans
from .decoder import Decoder
from .maths import StyleStats, adain_affine, blend_stats, mean_std

#: The encoder layer the decoder inverts.
ENCODER_LAYER = "relu4_1"
#: Tile side when the settings give none (``Settings.tile`` is None).
DEFAULT_TILE = 1024
#: The encoder pools three times before relu4_1, so sides are padded to a multiple of 8.
STRIDE = 8
#: relu4_1 must be at least 2 cells wide for reflection padding.
MIN_SIDE = 9


def pad_to_stride(x: Tensor) -> Tensor:
    # Deviation from the reference code (which decodes ceil(H/8)*8 rows and keeps
    # them): reflect-pad to a multiple of 8 so the output can be cropped to H x W.
    h, w = x.shape[-2:]
    ph, pw = -h % STRIDE, -w % STRIDE
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def encode(encoder: VGG19, x: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """relu4_1 features of ``x``, float32 ``(1, C, H/8, W/8)`` (sides rounded up)."""
    with torch.no_grad(), autocast(x.device.type, dtype):
        return encoder(x, [ENCODER_LAYER])[ENCODER_LAYER].float()


def style_stats(
    encoder: VGG19,
    styles: Sequence[Tensor],
    blend: Sequence[float] | None = None,
    dtype: torch.dtype | None = None,
    eps: float = 1e-5,
) -> StyleStats:
    """Blended relu4_1 statistics of one or more style images (:func:`blend_stats`).

    Compute once, reuse for many frames.
    """
    for s in styles:
        check_side(s, "style")
    parts = [StyleStats(*mean_std(encode(encoder, pad_to_stride(s), dtype), eps)) for s in styles]
    return blend_stats(parts, blend)


def check_side(x: Tensor, what: str) -> None:
    """An image AdaIN can encode: ``(1, 3, H, W)``, at least :data:`MIN_SIDE` px a side."""
    if x.dim() != 4 or x.shape[:2] != (1, 3):
        raise GramstyleError(f"{what} must be (1, 3, H, W), got {tuple(x.shape)}")
    if min(x.shape[-2:]) < MIN_SIDE:
        raise GramstyleError(f"AdaIN needs images at least {MIN_SIDE} px on the short side")


def check_call(content: Tensor, alpha: float, tile: int, overlap: int) -> None:
    """The arguments of a stylisation (:func:`adain_stylize`, ``AdainModel``)."""
    check_side(content, "content")
    if not 0.0 <= alpha <= 1.0:
        raise GramstyleError(f"alpha must be in [0, 1], got {alpha}")
    if tile < STRIDE or overlap < 0:
        raise GramstyleError(f"tile must be at least {STRIDE} px and overlap not negative")


def adain_stylize(
    content: Tensor,
    styles: Sequence[Tensor] | StyleStats,
    encoder: VGG19,
    decoder: Decoder,
    alpha: float = 1.0,
    blend: Sequence[float] | None = None,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = 64,
    dtype: torch.dtype | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Stylise ``content`` ``(1, 3, H, W)`` in one encoder-AdaIN-decoder pass.

    ``styles``: style images ``(1, 3, h, w)`` (any size; mixed by ``blend``, default
    equal) or precomputed :func:`style_stats`. ``alpha`` trades content (0: the
    decoder's reconstruction of the content) for style (1: full AdaIN). Images whose
    longest side exceeds ``tile`` are processed in tiles with ``overlap`` px of context
    (see the module docstring). ``dtype``: autocast dtype for the networks, or None
    for float32. Returns ``(1, 3, H, W)`` clamped to [0, 1], on the content's device.

    This is the plain reference path (the networks as given, nothing cached);
    :class:`AdainModel` is the fast one for repeated calls.
    """
    check_call(content, alpha, tile, overlap)
    stats = (
        styles
        if isinstance(styles, StyleStats)
        else style_stats(encoder, styles, blend, dtype, eps)
    )

    def decode(f: Tensor) -> Tensor:
        with torch.no_grad(), autocast(f.device.type, dtype):
            return decoder(f).float()

    return stylize_tiled(
        content, stats, alpha, lambda x: encode(encoder, x, dtype), decode, tile, overlap, eps
    )


def stylize_tiled(
    content: Tensor,
    stats: StyleStats,
    alpha: float,
    encode_fn: Callable[[Tensor], Tensor],
    decode_fn: Callable[[Tensor], Tensor],
    tile: int,
    overlap: int,
    eps: float,
) -> Tensor:
    """Encode, AdaIN, decode ``content`` ``(1, 3, H, W)``, tiled when it exceeds ``tile``.

    ``encode_fn``: image ``(1, 3, 8h, 8w)`` -> float32 relu4_1 features ``(1, C, h, w)``;
    ``decode_fn``: features -> float32 image. Returns ``(1, 3, H, W)`` in [0, 1].
    """
    tile, overlap = _round_up(tile), _round_up(overlap)
    H, W = content.shape[-2:]
    x = pad_to_stride(content)
    Hp, Wp = x.shape[-2:]
    if max(Hp, Wp) <= tile:
        f = encode_fn(x)
        scale, shift = adain_affine(*mean_std(f, eps), stats.mean, stats.std, alpha)
        out = decode_fn(f * scale + shift)
        return out[..., :H, :W].clamp(0, 1)

    tiles = [
        (r, c) for r in spans(Hp, tile, overlap, STRIDE) for c in spans(Wp, tile, overlap, STRIDE)
    ]

    def interior_features(r: Span, c: Span) -> tuple[Tensor, Tensor]:
        f = encode_fn(x[..., r.lo : r.hi, c.lo : c.hi])
        inner = f[
            ...,
            (r.a - r.lo) // STRIDE : (r.b - r.lo) // STRIDE,
            (c.a - c.lo) // STRIDE : (c.b - c.lo) // STRIDE,
        ]
        return f, inner

    # Pass 1: global content statistics from the tiles' interiors (float64 sums).
    n = 0
    s1: Tensor | float = 0.0  # sum of features per channel
    s2: Tensor | float = 0.0  # sum of squares
    for r, c in tiles:
        _, inner = interior_features(r, c)
        flat = inner.double().flatten(2)  # (1, C, cells)
        n += flat.shape[-1]
        s1 = s1 + flat.sum(-1)
        s2 = s2 + (flat * flat).sum(-1)
    assert isinstance(s1, Tensor) and isinstance(s2, Tensor)
    c_mean = (s1 / n).float().reshape(1, -1, 1, 1)
    c_var = ((s2 - s1 * s1 / n) / max(1, n - 1)).clamp(min=0).float().reshape(1, -1, 1, 1)
    scale, shift = adain_affine(c_mean, (c_var + eps).sqrt(), stats.mean, stats.std, alpha)

    # Pass 2: encode again (so only one tile's features live at a time), decode, paste.
    out = content.new_empty(1, 3, Hp, Wp)
    for r, c in tiles:
        f, _ = interior_features(r, c)
        y = decode_fn(f * scale + shift)
        out[..., r.a : r.b, c.a : c.b] = y[..., r.a - r.lo : r.b - r.lo, c.a - c.lo : c.b - c.lo]
    return out[..., :H, :W].clamp(0, 1)


def _round_up(n: int) -> int:
    return math.ceil(n / STRIDE) * STRIDE
