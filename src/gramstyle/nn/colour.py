"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving color").

Pure functions on ``(B, 3, H, W)`` RGB tensors in [0, 1]. The colour space is YIQ
(NTSC 1953, FCC matrix): ``Y`` is luminance, ``I``/``Q`` are the two chroma axes.

Two modes, chosen by ``Settings.preserve_color``:

- ``"luminance"``: the optimisation sees only luminance (content Y and the style's Y,
  mean/std-matched to the content's, each replicated to three channels); the result's
  Y is recombined with the content's I and Q (:func:`with_chroma_of`).
- ``"match"``: the style image's colour mean and covariance are made equal to the
  content's (:func:`match_color`) before stylising.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

MODES = ("none", "luminance", "match")

#: RGB -> YIQ, rows Y, I, Q (FCC NTSC). Y = 0.299 R + 0.587 G + 0.114 B.
_RGB_TO_YIQ = (
    (0.299, 0.587, 0.114),
    (0.595716, -0.274453, -0.321263),
    (0.211456, -0.522591, 0.311135),
)


def _check_rgb(x: Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected an RGB batch (B, 3, H, W), got {tuple(x.shape)}")


def _apply(matrix: Tensor, x: Tensor) -> Tensor:
    # (3, 3) x (B, 3, H, W) -> (B, 3, H, W), one matrix product per pixel.
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), x)


def rgb_to_yiq(x: Tensor) -> Tensor:
    """``(B, 3, H, W)`` RGB -> YIQ (Y in [0, 1], I in about ±0.6, Q in about ±0.52).

    >>> rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten()   # white: Y = 1, no chroma
    tensor([1., 0., 0.])
    """
    _check_rgb(x)
    return _apply(torch.tensor(_RGB_TO_YIQ, dtype=torch.float64), x)


def yiq_to_rgb(x: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_yiq` (not clamped: out-of-gamut YIQ gives RGB outside [0, 1])."""
    _check_rgb(x)
    return _apply(torch.linalg.inv(torch.tensor(_RGB_TO_YIQ, dtype=torch.float64)), x)


def luminance(x: Tensor) -> Tensor:
    """The Y channel, ``(B, 3, H, W)`` -> ``(B, 1, H, W)``."""
    return rgb_to_yiq(x)[:, :1]


def grey(y: Tensor) -> Tensor:
    """A luminance ``(B, 1, H, W)`` replicated to three channels, as the network wants."""
    return y.expand(-1, 3, -1, -1).contiguous()


def match_histogram(values: Tensor, reference: Tensor) -> Tensor:
    """``values`` remapped so their distribution is ``reference``'s (any shapes): each
    value goes to the reference's value at the same quantile (ties keep their order).

    >>> match_histogram(torch.tensor([3.0, 1.0, 2.0]), torch.tensor([10.0, 30.0, 20.0]))
    tensor([30., 10., 20.])
    """
    flat = values.flatten()
    ref = reference.flatten().sort().values
    ranks = torch.empty_like(flat)
    ranks[flat.argsort()] = torch.linspace(0, 1, flat.numel(), dtype=flat.dtype)
    pos = ranks * (ref.numel() - 1)  # fractional index into the sorted reference
    lo = pos.floor().long().clamp(max=ref.numel() - 1)
    hi = (lo + 1).clamp(max=ref.numel() - 1)
    t = pos - lo
    return (ref[lo] * (1 - t) + ref[hi] * t).reshape(values.shape)


def match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """The style's luminance with the content's luminance histogram, as a grey RGB image.

    Gatys et al. 2016 (section 3) match the luminance histograms so that the style's
    overall brightness and contrast do not leak into the result; the paper matches the
    first two moments, here the whole histogram, so the style's strokes span the
    content's own range of light (two moments leave a painting's skewed histogram
    skewed: its strokes then clip to white in a bright sky).
    """
    y = match_histogram(luminance(style), luminance(content))
    return grey(y.clamp(0, 1))


def with_chroma_of(x: Tensor, content: Tensor) -> Tensor:
    """``x``'s luminance with ``content``'s chroma (I, Q), back in RGB, clamped to [0, 1].

    The clamp (not in the paper) only bites where the recombined colour is out of gamut.
    """
    yiq = torch.cat([luminance(x), rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def color_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(3,)`` and covariance ``(3, 3)`` of the pixels of an RGB image ``(1, 3, H, W)``."""
    _check_rgb(x)
    p = x[0].flatten(1).double()  # (3, H*W)
    return p.mean(1), torch.cov(p)


def _sym_power(c: Tensor, power: float, eps: float) -> Tensor:
    """``c ** power`` for a symmetric positive semi-definite ``c`` (eigenvalues floored)."""
    vals, vecs = torch.linalg.eigh(c)
    return vecs @ torch.diag(vals.clamp_min(eps) ** power) @ vecs.T


def mixed_stats(images: Sequence[Tensor], weights: Sequence[float] | None = None
                ) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Mean and covariance of the pixels of several images pooled, each weighted
    (default equal): the statistics of their blend as one palette."""
    w = list(weights) if weights is not None else [1.0] * len(images)
    total = sum(w)
    stats = [color_stats(x) for x in images]
    mu = sum(wk / total * m for wk, (m, _) in zip(w, stats, strict=True))
    second = sum(wk / total * (c + torch.outer(m, m)) for wk, (m, c) in zip(w, stats, strict=True))
    assert isinstance(mu, Tensor) and isinstance(second, Tensor)
    return mu, second - torch.outer(mu, mu)


def match_color(
    style: Tensor, content: Tensor, eps: float = 1e-6, target: tuple[Tensor, Tensor] | None = None
) -> Tensor:
    """Recolour ``style`` so its pixels' mean and covariance equal ``content``'s.

    ``x' = C_c^(1/2) C_s^(-1/2) (x - mu_s) + mu_c`` with symmetric matrix square roots
    from ``torch.linalg.eigh`` (the "image analogies" variant of Gatys et al. 2016;
    unlike Cholesky it does not depend on the channel order). The result is clamped to
    [0, 1], which moves the statistics slightly where colours leave the gamut.
    ``style``: ``(1, 3, H, W)``; ``content``: ``(1, 3, H', W')``; ``target``: the
    mean and covariance to give it instead of ``content``'s (:func:`mixed_stats`).
    """
    mu_s, cov_s = color_stats(style)
    mu_c, cov_c = color_stats(content) if target is None else target
    A = _sym_power(cov_c, 0.5, eps) @ _sym_power(cov_s, -0.5, eps)  # (3, 3)
    p = style[0].flatten(1).double()  # (3, H*W)
    out = A @ (p - mu_s[:, None]) + mu_c[:, None]
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)
