"""AdaIN region by region: each region of the content takes the statistics of its
style region (label maps, :mod:`gramstyle.nn.labels`).

AdaIN gives every relu4_1 channel of the content the style's mean and spread over the
whole image. With regions ``k`` (masks ``m_k`` at the features' size), region ``k`` of
the content is normalised by its own masked statistics and given those of the style's
region ``k``:

    f' = sum_k w_k (sigma_k^S (f - mu_k^C) / sigma_k^C + mu_k^S)

``w_k`` the masks at the features' size (bilinear, so they sum to 1 and blend for a
cell on a region's edge). So the decoder paints a city's buildings with the style's
lit windows and its sky with the style's sky, rather than one mixture everywhere
(WCT2 and FastPhotoStyle do the same with whitening). One pass, no tiles: the regions'
statistics need the whole image's features at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from ..nn.masks import mask_at
from .engine import AdainModel
from .stylize import pad_to_stride

#: A region needs this many relu4_1 cells for its own statistics; a smaller one (a few
#: pixels of a label) takes the whole image's.
MIN_CELLS = 4


def masked_stats(f: Tensor, m: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor, Tensor]:
    """Per region: the channels' mean and standard deviation over ``f`` ``(1, C, h, w)``
    weighted by ``m`` ``(K, 1, h, w)``, each ``(K, C, 1, 1)``, and the weights' sums ``(K,)``.

    Unbiased like :func:`~gramstyle.adain.maths.mean_std` (``std = sqrt(var + eps)``).
    """
    w = m.flatten(1)  # (K, hw)
    a = f[0].flatten(1)  # (C, hw)
    n = w.sum(1)  # (K,)
    mean = (w @ a.T) / n.clamp_min(1e-8)[:, None]  # (K, C)
    second = (w @ (a * a).T) / n.clamp_min(1e-8)[:, None]
    var = (second - mean * mean).clamp_min(0) * (n / (n - 1).clamp_min(1))[:, None]
    return mean[..., None, None], (var + eps).sqrt()[..., None, None], n


def region_adain(
    model: AdainModel,
    content: Tensor,
    masks: Tensor,
    styles: Sequence[Tensor],
    style_masks: Sequence[Tensor],
    alpha: float = 1.0,
    blend: Sequence[float] | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``content`` ``(1, 3, H, W)`` stylised region by region (see the module).

    ``masks`` ``(K, 1, H, W)``: the content's regions; ``styles``: the style images
    (each fitted to its size), ``style_masks``: their regions ``(K, 1, Hs, Ws)`` at any
    size, region k matched with region k; several styles' statistics are mixed by
    ``blend`` (default equal) as AdaIN mixes them. Returns ``(1, 3, H, W)`` in [0, 1].
    """
    H, W = content.shape[-2:]
    x = pad_to_stride(content)
    f = model.encode(x)  # (1, C, h, w)
    size = (f.shape[-2], f.shape[-1])
    pad = (0, x.shape[-1] - W, 0, x.shape[-2] - H)
    m = mask_at(F.pad(masks, pad, mode="replicate"), size).to(f)  # (K, 1, h, w)
    m = m / m.sum(0, keepdim=True).clamp_min(1e-8)
    c_mean, c_std, c_n = masked_stats(f, m, eps)
    whole = masked_stats(f, torch.ones_like(m[:1]), eps)
    w = list(blend) if blend is not None else [1.0] * len(styles)
    s_mean = s_std = None
    for wk, style, sm in zip(w, styles, style_masks, strict=True):
        fs = model.encode(pad_to_stride(style))
        hs, ws = style.shape[-2:]
        spad = (0, 8 * fs.shape[-1] - ws, 0, 8 * fs.shape[-2] - hs)
        sm_at = mask_at(F.pad(sm.to(style), spad, mode="replicate"), (fs.shape[-2], fs.shape[-1]))
        sm_at = sm_at.to(fs)
        mean, std, n = masked_stats(fs, sm_at, eps)
        g_mean, g_std, _ = masked_stats(fs, torch.ones_like(sm_at[:1]), eps)
        small = n < MIN_CELLS
        mean[small], std[small] = g_mean[0], g_std[0]
        share = wk / sum(w)
        s_mean = share * mean if s_mean is None else s_mean + share * mean
        s_std = share * std if s_std is None else s_std + share * std
    assert s_mean is not None and s_std is not None
    small = c_n < MIN_CELLS
    c_mean[small], c_std[small] = whole[0][0], whole[1][0]
    ratio = s_std / c_std  # (K, C, 1, 1)
    scale = alpha * ratio + (1 - alpha)
    shift = alpha * (s_mean - c_mean * ratio)
    out = (m * (scale * f + shift)).sum(0, keepdim=True)  # (1, C, h, w)
    return model.decode(out)[..., :H, :W].clamp(0, 1)
