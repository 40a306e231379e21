"""AdaIN's maths (Huang & Belongie 2017): channel statistics and their transfer.

Pure functions on ``(B, C, H, W)`` features: :func:`mean_std` as the decoder was trained
with, :func:`adain` itself, and :func:`adain_affine`, the same map as one per-channel
scale and shift (so tiles can apply statistics gathered over the whole image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from ..errors import GramstyleError
from ..inputs import blend_weights


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


@dataclass(frozen=True)
class StyleStats:
    """Channel-wise ``mean`` and ``std`` of relu4_1 features, each ``(1, C, 1, 1)``."""

    mean: Tensor
    std: Tensor


def blend_stats(parts: Sequence[StyleStats], blend: Sequence[float] | None) -> StyleStats:
    """Several styles' statistics mixed by ``blend`` (default equal).

    The reference code mixes styles as ``sum_i w_i adain(c, s_i)``; since AdaIN is
    affine in the style's mean and std, that equals one AdaIN with the blended
    ``sum_i w_i mean_i`` and ``sum_i w_i std_i``.
    """
    if not parts:
        raise GramstyleError("no style image given")
    w = list(blend) if blend is not None else [1.0] * len(parts)
    blend_weights(w, len(parts))  # one per style, finite, not negative, not all zero
    total = sum(w)
    mean = sum(wi / total * st.mean for wi, st in zip(w, parts, strict=True))
    std = sum(wi / total * st.std for wi, st in zip(w, parts, strict=True))
    assert isinstance(mean, Tensor) and isinstance(std, Tensor)
    return StyleStats(mean, std)
