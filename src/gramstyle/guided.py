"""Edge-aware upsampling: the (fast) guided filter of He, Sun & Tang (2010/2013, 2015).

The guided filter models the output as locally linear in a guide image,
``q = a * I + b`` in every ``(2r+1) x (2r+1)`` window, with ``(a, b)`` the ridge
regression of the input ``p`` on ``I`` in that window (``eps`` is the ridge). The
*fast* variant (He & Sun 2015, "Fast Guided Filter") fits ``(a, b)`` at low
resolution and upsamples only the coefficients, then applies them to the full-size
guide: the result has the low-resolution image's colours and the guide's edges.

AdaIN uses it to run its networks on a smaller image and restore the photo's
full-resolution edges (:class:`gramstyle.adain.AdainModel`). Pure functions on
``(B, C, H, W)`` float tensors; the guide has 1 channel (shared by every output
channel) or as many channels as ``p`` (channel ``k`` guided by guide channel ``k``).
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from .errors import GramstyleError


def box_filter(x: Tensor, r: int) -> Tensor:
    """Mean over the ``(2r+1) x (2r+1)`` window around each pixel, clipped at the border.

    ``x``: ``(B, C, H, W)``; returns the same shape. Near the border only the pixels
    inside the image are averaged (He et al.'s ``boxfilter(I) / boxfilter(ones)``).
    """
    if r < 0:
        raise GramstyleError(f"box filter radius must not be negative, got {r}")
    if r == 0:
        return x
    # avg_pool2d needs the padding at most half the kernel; a window larger than the
    # image is the same as one that just covers it.
    k = 2 * r + 1
    return F.avg_pool2d(x, k, stride=1, padding=r, count_include_pad=False)


def _coefficients(guide: Tensor, p: Tensor, r: int, eps: float) -> tuple[Tensor, Tensor]:
    """Window means of ``a`` and ``b`` in ``q = a I + b`` (He et al. 2013, Alg. 1)."""
    mean_i = box_filter(guide, r)
    mean_p = box_filter(p, r)
    cov_ip = box_filter(guide * p, r) - mean_i * mean_p
    var_i = box_filter(guide * guide, r) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_filter(a, r), box_filter(b, r)


def _check(guide: Tensor, p: Tensor) -> None:
    if guide.dim() != 4 or p.dim() != 4 or guide.shape[0] != p.shape[0]:
        raise GramstyleError(
            f"guide and input must be (B, C, H, W) with one batch size, "
            f"got {tuple(guide.shape)} and {tuple(p.shape)}"
        )
    if guide.shape[1] not in (1, p.shape[1]):
        raise GramstyleError(
            f"the guide needs 1 or {p.shape[1]} channels, got {guide.shape[1]}"
        )


def guided_filter(guide: Tensor, p: Tensor, r: int, eps: float) -> Tensor:
    """The guided filter: ``p`` ``(B, C, H, W)`` smoothed along the edges of ``guide``.

    ``guide``: ``(B, 1 or C, H, W)``. ``r``: window radius in pixels; ``eps``: the
    ridge (in squared intensity units: with images in [0, 1], ``1e-2`` keeps edges
    whose contrast is above about 0.1). Returns ``(B, C, H, W)``.
    """
    _check(guide, p)
    if guide.shape[-2:] != p.shape[-2:]:
        raise GramstyleError("guide and input must have the same size")
    mean_a, mean_b = _coefficients(guide, p, r, eps)
    return mean_a * guide + mean_b


def fast_guided_upsample(
    guide: Tensor, guide_low: Tensor, p_low: Tensor, r: int, eps: float
) -> Tensor:
    """Upsample ``p_low`` to the size of ``guide`` along the guide's edges (fast GF).

    ``guide``: the full-size guide ``(B, 1 or C, H, W)``; ``guide_low``: the same guide
    at ``p_low``'s size ``(B, 1 or C, h, w)``; ``p_low``: the low-resolution image
    ``(B, C, h, w)``. The linear coefficients are fitted at ``h x w`` with radius ``r``
    (low-resolution pixels), upsampled bilinearly and applied to ``guide``: output
    ``(B, C, H, W)``, ``q = A * guide + B``.
    """
    _check(guide_low, p_low)
    if guide_low.shape[-2:] != p_low.shape[-2:] or guide.shape[:2] != guide_low.shape[:2]:
        raise GramstyleError("guide_low must be the guide at p_low's size")
    mean_a, mean_b = _coefficients(guide_low, p_low, r, eps)
    size = guide.shape[-2:]
    up_a = F.interpolate(mean_a, size=size, mode="bilinear", align_corners=False)
    up_b = F.interpolate(mean_b, size=size, mode="bilinear", align_corners=False)
    return up_a * guide + up_b
