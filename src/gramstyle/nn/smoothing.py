"""Photorealistic smoothing of a one-pass result (FastPhotoStyle, Li et al. 2018).

A fast stylisation (AdaIN) carries the style's colours but also its strokes, and it
warps edges. FastPhotoStyle's smoothing step keeps the colours and puts the content's
edges back: with the matting affinity ``W`` of the content (``L = D - W``, see
:mod:`gramstyle.nn.matting`), ``R* = (1 - alpha) (I - alpha S)^-1 Y``,
``S = D^-1/2 W D^-1/2``, ``alpha = 1 / (1 + lambda)``, ``lambda = 1e-4``. Since
``I - alpha S = (1 - alpha) I + alpha D^-1/2 L D^-1/2`` and ``D = 9`` off the border,

    R* = (I + mu L)^-1 Y,   mu = 1 / (9 lambda) ~ 1111,

the image closest to ``Y`` that is locally an affine map of the content's colours.
:func:`matting_solve` solves this system matrix-free by conjugate gradients; the
unnormalised ``L`` (a departure only on the one-pixel border, where FastPhotoStyle's
``D`` is under 9) keeps a constant image exactly constant.

With ``mu ~ 1111`` the solution's affine maps vary over some 30 pixels, and conjugate
gradients need 360-410 products to reach a relative residual of 1e-3 (25-125 s at 700 px
on this loaded 2-core machine, :func:`smooth_exact`). :func:`guided_filter` (He, Sun &
Tang 2010: the same ridge-regularised local affine model, fitted in large windows and
averaged) is FastPhotoStyle's own fast approximation (``r = 35``). On AdaIN results for
the eight pairs of Luan et al.'s benchmark (``benchmarks/photoreal_measures.py``, means)
it keeps a little less colour than the exact solve and more photorealism and
structure, in 0.15-0.2 s instead of half a minute or more:

    ==============  ===============  ===================  ===========
    smoothing       colour (Lab W2)  local affine resid.  structure
    ==============  ===============  ===================  ===========
    none (AdaIN)    15.1             0.615                0.604
    exact solve     17.3             0.046                0.948
    guided filter   18.1             0.020                0.982
    ==============  ===============  ===================  ===========

:func:`smooth` is that filter, its radius a 20th of the long side (35 px at 700 px) so
it does not depend on the size; smaller windows or ridge keep more of the stylised
colours and less photorealism (radius 1/40, ridge 1e-4: 16.8, 0.051, 0.946).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .matting import MattingLaplacian, laplacian_apply, matting_laplacian, sym3_inverse

#: FastPhotoStyle's lambda: the weight of fidelity to the stylised image.
LAMBDA = 1e-4
#: The guided filter's ridge (colour variance, [0, 1] units): windows flatter than
#: this take the stylised image's mean, steeper ones its affine fit.
GUIDED_EPS = 1e-3
#: The guided filter's radius as a share of the long side (35 px at 700 px).
RADIUS_SHARE = 1 / 20
#: Pixels per band of :func:`banded_guided_filter` (its temporaries: some 130 MB).
BAND_PIXELS = 1 << 20
#: The finishing filter (:func:`finish`): its radius as a share of the long side (4 px
#: at 700 px) and its ridge (colour variance, [0, 1] units).
FINISH_SHARE = 1 / 175
FINISH_EPS = 1e-3


def _clipped_box_sum(x: Tensor, r: int) -> Tensor:
    """Sums over ``(2r+1)^2`` windows clipped to the image, ``(B, C, H, W)``, any ``r``.

    From cumulative sums, so the cost does not grow with ``r``; slices, not gathers
    (``index_select`` was half the filter's time).
    """
    for dim in (-2, -1):
        n = x.shape[dim]
        k = min(r, n - 1)  # a wider window is the whole line anyway
        cs = x.cumsum(dim)
        # window i covers [i - k, i + k] clipped: cs[min(i + k, n - 1)] - cs[i - k - 1]
        out = torch.empty_like(cs)
        out.narrow(dim, 0, n - k).copy_(cs.narrow(dim, k, n - k))
        out.narrow(dim, n - k, k).copy_(
            cs.narrow(dim, n - 1, 1).expand_as(out.narrow(dim, n - k, k))
        )
        out.narrow(dim, k + 1, n - k - 1).sub_(cs.narrow(dim, 0, n - k - 1))
        x = out
    return x


def guided_filter(guide: Tensor, src: Tensor, radius: int, eps: float = GUIDED_EPS) -> Tensor:
    """He et al.'s colour guided filter: ``src`` ``(1, C, H, W)`` made locally affine in
    ``guide`` ``(1, 3, H, W)`` -> ``(1, C, H, W)`` in ``src``'s dtype.

    In each ``(2r+1)^2`` window (clipped at the border) the ridge fit
    ``src ~ a^T guide + b`` (``(Sigma + eps I) a = cov(guide, src)``); every pixel gets
    the mean of its windows' ``a`` and ``b``. Computed in float32 (float64 for float64
    input) on images centred on their means, which keeps the cumulative sums small: at
    700 and 2800 px it differs from float64 by under 0.001/255, at a quarter of the time.
    """
    if guide.dim() != 4 or guide.shape[:2] != (1, 3) or src.shape[-2:] != guide.shape[-2:]:
        raise ValueError(f"guide (1, 3, H, W) and src (1, C, H, W): {guide.shape}, {src.shape}")
    dtype = torch.promote_types(src.dtype, torch.float32)
    g = guide.detach().to(dtype)
    p = src.detach().to(dtype)
    C = p.shape[1]
    # Centred, so the cumulative sums stay small numbers.
    g = g - g.mean((-2, -1), keepdim=True)
    p_mean = p.mean((-2, -1), keepdim=True)
    p = p - p_mean
    count = _clipped_box_sum(torch.ones_like(g[:, :1]), radius)
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    stats = torch.cat(
        [
            g,
            p,
            *(g[:, i : i + 1] * g[:, j : j + 1] for i, j in pairs),
            *(g[:, i : i + 1] * p for i in range(3)),
        ],
        dim=1,
    )
    m = _clipped_box_sum(stats, radius) / count
    mu, mp = m[:, :3], m[:, 3 : 3 + C]
    second = m[:, 3 + C : 9 + C]
    cross = m[:, 9 + C :].unflatten(1, (3, C))  # (1, 3, C, H, W)
    sigma = {
        (i, j): second[:, n : n + 1] - mu[:, i : i + 1] * mu[:, j : j + 1] + (eps if i == j else 0)
        for n, (i, j) in enumerate(pairs)
    }
    cov = cross - mu[:, :, None] * mp[:, None]  # (1, 3, C, H, W)
    inv = sym3_inverse([sigma[pair] for pair in pairs])
    inv_at = dict(zip(pairs, inv, strict=True))
    a = torch.stack(
        [sum(inv_at[min(i, j), max(i, j)] * cov[:, j] for j in range(3)) for i in range(3)], dim=1
    )  # (1, 3, C, H, W)
    b = mp - (a * mu[:, :, None]).sum(1)
    mean_ab = _clipped_box_sum(torch.cat([a.flatten(1, 2), b], dim=1), radius) / count
    mean_a, mean_b = mean_ab[:, : 3 * C].unflatten(1, (3, C)), mean_ab[:, 3 * C :]
    q = (mean_a * g[:, :, None]).sum(1) + mean_b + p_mean
    return q.to(src.dtype)


def smooth(
    content: Tensor, stylised: Tensor, radius: int | None = None, eps: float = GUIDED_EPS
) -> Tensor:
    """FastPhotoStyle's smoothing, fast: ``stylised`` made locally affine in ``content``.

    Both ``(1, 3, H, W)`` in [0, 1] at the same size; ``radius`` defaults to a 20th of
    the long side. Returns ``(1, 3, H, W)`` clamped to [0, 1].
    """
    if radius is None:
        radius = max(1, round(RADIUS_SHARE * max(content.shape[-2:])))
    return banded_guided_filter(content, stylised, radius, eps).clamp(0, 1)


def finish(content: Tensor, image: Tensor) -> Tensor:
    """A photorealistic result's last touch: ``image`` made locally affine in the photo
    ``content`` (both ``(1, 3, H, W)`` in [0, 1]) by a small guided filter, 9x9 px
    windows at 700 px (the radius follows the size).

    Deviation from Luan et al.: their regulariser's ridge (``eps = 1e-7``) lets an
    almost flat region of the photo (a clear sky) carry any texture its noise can be
    mapped to, and an optimiser leaves a faint mottle there; this filter's ridge (a
    30th of the colour range, squared) removes it in a fraction of a second and keeps
    the colours (docs/maths.md). Returns ``(1, 3, H, W)`` clamped to [0, 1].
    """
    r = max(1, round(FINISH_SHARE * max(image.shape[-2:])))
    return banded_guided_filter(content, image, r, FINISH_EPS).clamp(0, 1)


def banded_guided_filter(
    guide: Tensor, src: Tensor, radius: int, eps: float = GUIDED_EPS, band: int = BAND_PIXELS
) -> Tensor:
    """:func:`guided_filter` in bands of rows, so its temporaries (some 30 values a
    pixel) stay bounded at print size; the same result.

    A row of the output depends on the rows within ``2 radius`` of it (its windows'
    fits, and their pixels), so each band is filtered with that margin, which is
    then dropped.
    """
    H, W = guide.shape[-2:]
    rows = max(1, band // W)
    if rows >= H:
        return guided_filter(guide, src, radius, eps)
    out = torch.empty_like(src)
    m = 2 * radius
    for y0 in range(0, H, rows):
        y1 = min(y0 + rows, H)
        top, bottom = max(y0 - m, 0), min(y1 + m, H)
        part = guided_filter(guide[..., top:bottom, :], src[..., top:bottom, :], radius, eps)
        out[..., y0:y1, :] = part[..., y0 - top : y1 - top, :]
    return out


@dataclass(frozen=True)
class Solved:
    """A conjugate-gradient solution: ``x``, the iterations run, the relative residual
    ``max_c |b_c - A x_c| / |b_c|`` it reached."""

    x: Tensor
    iterations: int
    residual: float


def matting_solve(
    lap: MattingLaplacian,
    y: Tensor,
    weight: float,
    x0: Tensor | None = None,
    tol: float = 1e-4,
    max_iter: int = 2000,
) -> Solved:
    """Solve ``(I + weight L) x = y`` per channel by conjugate gradients, matrix-free.

    ``y``: ``(1, C, H, W)``. This is ``argmin_x |x - y|^2 + weight sum_c x_c^T L x_c``:
    FastPhotoStyle's smoothing with ``weight = 1 / (9 lambda)`` (:func:`smooth_exact`),
    and the proximal step ``argmin_x |x - y|^2 + lambda_m photoreal_cost(x)`` with
    ``weight = lambda_m / n_pixels`` (what :class:`gramstyle.method.ExtraCost` asks of
    a one-pass method). ``I + weight L`` is symmetric positive definite, so CG
    converges; it stops when every channel's relative residual is under ``tol``.

    Pass a float64 Laplacian for weights over about 10: the float32 product's rounding
    (0.5%), times the weight, can make the system indefinite (seen at ``weight = 1111``
    on a photo); a channel whose step breaks down stops there, with its residual.
    """
    b = y.detach().to(lap.image.dtype)
    x = b.clone() if x0 is None else x0.detach().to(b.dtype).clone()

    def A(v: Tensor) -> Tensor:
        return v + weight * laplacian_apply(lap, v)

    def dot(u: Tensor, v: Tensor) -> Tensor:
        return (u * v).sum((0, 2, 3))  # per channel

    def per_channel(t: Tensor) -> Tensor:
        return t[None, :, None, None]

    r = b - A(x)
    norm_b = dot(b, b).sqrt().clamp_min(1e-30)
    p = r.clone()
    rr = dot(r, r)
    active = rr.sqrt() / norm_b > tol
    it = 0
    while bool(active.any()) and it < max_iter:
        Ap = A(p)
        pAp = dot(p, Ap)
        active &= pAp > 0  # converged channels and breakdowns stop moving
        alpha = torch.where(active, rr / torch.where(active, pAp, 1.0), 0.0)
        x.add_(per_channel(alpha) * p)
        r.sub_(per_channel(alpha) * Ap)
        rr_new = dot(r, r)
        beta = torch.where(active, rr_new / torch.where(active, rr, 1.0), 0.0)
        p = r + per_channel(beta) * p
        rr = torch.where(active, rr_new, rr)
        active &= rr.sqrt() / norm_b > tol
        it += 1
    return Solved(x, it, float((rr.sqrt() / norm_b).max()))


def smooth_exact(
    content: Tensor,
    stylised: Tensor,
    lam: float = LAMBDA,
    tol: float = 1e-4,
    max_iter: int = 2000,
) -> Solved:
    """FastPhotoStyle's closed form ``(I + L / (9 lam))^-1 Y``, ``L`` the float64 matting
    Laplacian of ``content``, solved by :func:`matting_solve` from the fast
    :func:`smooth` as the first guess. Slow (some 400 products at ``lam = 1e-4``, half
    a minute at 700 px): a reference for the fast path, and for small images."""
    lap = matting_laplacian(content, dtype=torch.float64)
    x0 = smooth(content, stylised)
    solved = matting_solve(lap, stylised, 1 / (9 * lam), x0=x0, tol=tol, max_iter=max_iter)
    return Solved(solved.x.to(stylised.dtype), solved.iterations, solved.residual)
