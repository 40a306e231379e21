"""A photo recoloured region by region to the colours of another photo's regions.

Label maps pair each region of a content photo with a region of a style photo
(:mod:`gramstyle.nn.labels`). :func:`match_regions` gives each region of an image the
colour mean and covariance of its style regions: in region ``k`` the affine map
``x -> A_k (x - mu_k) + nu_k``, ``A_k = S_k^(1/2) X_k^(-1/2)`` (symmetric roots, as
:func:`gramstyle.nn.colour.match_color`), ``mu_k, X_k`` the image's statistics in the
region and ``nu_k, S_k`` the style's. A locally affine map of the photo's colours is
what photorealism asks (Luan et al. 2017), so the result is a photo with the style's
look region by region: the start of Gatys's photorealistic optimisation and the
palette of AdaIN's.

Two guards keep it a photo:

- the maps are blended with soft region weights, the one-hot masks made to follow the
  photo's own edges by a guided filter (:func:`soft_regions`): a hand-drawn map's edge
  a few pixels off the true one would otherwise leave a seam, a halo of the wrong map;
- the image's covariance is floored at :data:`MIN_VARIANCE` before it is inverted, so a
  flat region (a clear sky) is not given the style's contrast by amplifying its noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .smoothing import guided_filter

#: The soft weights' guided filter: its radius as a share of the long side (7 px at
#: 700 px) and its ridge (colour variance, [0, 1] units): label edges snap to photo
#: edges within about that radius.
FEATHER_SHARE = 1 / 100
FEATHER_EPS = 1e-4
#: Floor of the image's colour variance per axis before inversion: a standard deviation
#: of about 2.5/255, the noise of an 8-bit photo's flat areas.
MIN_VARIANCE = 1e-4
#: Pixels a region needs for its own statistics; smaller ones keep their colours.
MIN_PIXELS = 16


def soft_regions(guide: Tensor, masks: Tensor, radius: int | None = None) -> Tensor:
    """Region weights ``(K, 1, H, W)``, not negative and summing to 1 at every pixel:
    the masks ``(K, 1, H, W)`` guided-filtered by the photo ``guide`` ``(1, 3, H, W)``."""
    if masks.shape[0] == 1:
        return torch.ones_like(masks)
    r = radius if radius is not None else max(1, round(FEATHER_SHARE * max(guide.shape[-2:])))
    w = guided_filter(guide, masks.permute(1, 0, 2, 3), r, FEATHER_EPS).clamp_min(0)
    w = w / w.sum(1, keepdim=True).clamp_min(1e-8)
    return w.permute(1, 0, 2, 3)


def region_stats(x: Tensor, masks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per region of ``masks`` ``(K, 1, H, W)`` (weights in [0, 1]): the colour mean
    ``(K, 3)``, covariance ``(K, 3, 3)`` and weight ``(K,)`` of ``x`` ``(1, 3, H, W)``,
    in float64."""
    p = x[0].flatten(1).double()  # (3, N)
    m = masks.flatten(1).double()  # (K, N)
    n = m.sum(1)  # (K,)
    mu = (m @ p.T) / n.clamp_min(1e-12)[:, None]  # (K, 3)
    second = torch.einsum("kn,in,jn->kij", m, p, p) / n.clamp_min(1e-12)[:, None, None]
    return mu, second - mu[:, :, None] * mu[:, None, :], n


def _sym_power(c: Tensor, power: float, floor: float) -> Tensor:
    vals, vecs = torch.linalg.eigh(c)
    return vecs @ torch.diag_embed(vals.clamp_min(floor) ** power) @ vecs.transpose(-1, -2)


def match_regions(
    x: Tensor,
    masks: Tensor,
    styles: Sequence[Tensor],
    style_masks: Sequence[Tensor],
    blend: Sequence[float] | None = None,
    guide: Tensor | None = None,
) -> Tensor:
    """``x`` ``(1, 3, H, W)`` recoloured region by region (see the module).

    ``masks`` ``(K, 1, H, W)``: ``x``'s regions; ``styles`` and ``style_masks``: each
    style image and its regions ``(K, 1, Hs, Ws)`` (region k matched with region k),
    their statistics pooled with ``blend`` (default equal); ``guide``: the photo whose
    edges the soft weights follow (default ``x``). Returns ``(1, 3, H, W)`` in [0, 1].
    """
    w = list(blend) if blend is not None else [1.0] * len(styles)
    total = sum(w)
    mu_s = second_s = None
    for wk, style, m in zip(w, styles, style_masks, strict=True):
        mu, cov, _ = region_stats(style, (m > 0.5).to(style.dtype))
        share = wk / total
        part = cov + mu[:, :, None] * mu[:, None, :]
        mu_s = share * mu if mu_s is None else mu_s + share * mu
        second_s = share * part if second_s is None else second_s + share * part
    assert mu_s is not None and second_s is not None
    cov_s = second_s - mu_s[:, :, None] * mu_s[:, None, :]
    mu_x, cov_x, n = region_stats(x, (masks > 0.5).to(x.dtype))
    A = _sym_power(cov_s, 0.5, 0.0) @ _sym_power(cov_x, -0.5, MIN_VARIANCE)  # (K, 3, 3)
    keep = n < MIN_PIXELS  # too few pixels for statistics: the identity
    A[keep] = torch.eye(3, dtype=A.dtype)
    shift = mu_s - (A @ mu_x[:, :, None])[..., 0]
    shift[keep] = 0
    weights = soft_regions(x if guide is None else guide, masks)
    p = x[0].flatten(1).double()  # (3, N)
    out = torch.zeros_like(p)
    for k in range(masks.shape[0]):
        out += weights[k].flatten(1).double() * (A[k] @ p + shift[k][:, None])
    return out.reshape(x.shape).to(x.dtype).clamp(0, 1)
