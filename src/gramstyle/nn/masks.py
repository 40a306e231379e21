"""Region masks: one per style image, so each region of the output gets its own style.

Spatial control as in Gatys et al. 2017 ("Controlling Perceptual Factors in Neural
Style Transfer"), not in the 2015 paper or the lecture. A mask is a grey image, white
(1) inside its region and black (0) outside; grey values are soft weights, so feathered
masks blend styles across a seam. At each style layer the mask is resized to the
layer's resolution (bilinear, antialiased, which also softens the seam), and the
region's style matrix of G is the mask-weighted mean of the outer products
``a_ij a_ij^T`` (:func:`masked_gram`), compared with the whole style image's
``G(S)/(nH nW)``. Regions are weighted by their area, so one all-white mask gives
exactly the unmasked cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from ..errors import GramstyleError
from ..image import ImageLike, load_image
from .losses import gram_matrix


def _as_mask(src: ImageLike | Tensor, what: str) -> Tensor:
    """A path, PIL image or tensor -> ``(1, 1, h, w)`` float in [0, 1]."""
    if isinstance(src, Tensor) and src.dim() in (2, 3, 4) and src.shape[-3:-2] in ((), (1,)):
        if src.dim() == 4 and src.shape[0] != 1:
            raise GramstyleError(f"{what} tensor must be (H, W) or (1, 1, H, W)")
        if not bool(torch.isfinite(src).all()):
            raise GramstyleError(f"{what} tensor has NaN or infinite values")
        return src.detach().float().reshape(1, 1, *src.shape[-2:]).clamp(0, 1)
    # RGB images (and RGB tensors) become grey by the channel mean.
    return load_image(src, None, what).mean(1, keepdim=True)


def load_masks(
    srcs: Sequence[ImageLike | Tensor], size: tuple[int, int], n_styles: int
) -> tuple[Tensor, list[str]]:
    """Load one mask per style, resized to ``size = (H, W)``: ``(K, 1, H, W)`` and notes.

    The notes are plain sentences for the caller to show (the library never prints):
    a mask of another aspect ratio than the output is stretched to fit (one of the same
    aspect, e.g. drawn on the full-size photo, is resized silently), and pixels covered
    by no mask get no style. Raises :class:`GramstyleError` on a wrong count or an
    empty (all-black) mask.
    """
    if len(srcs) != n_styles:
        raise GramstyleError(
            f"{len(srcs)} mask{'s' if len(srcs) != 1 else ''} for {n_styles} "
            f"style{'s' if n_styles != 1 else ''}: give one mask per style image"
        )
    out, notes = [], []
    H, W = size
    for i, src in enumerate(srcs, start=1):
        m = _as_mask(src, f"mask {i}")
        h, w = m.shape[-2:]
        if (h, w) != (H, W):
            # A mask drawn on the full-size photo is expected: resized silently. One
            # of another shape is stretched, which the caller should hear about.
            if abs(w / h - W / H) > 0.01 * (W / H):
                notes.append(
                    f"mask {i} is {w}x{h}, the output {W}x{H}: stretched to fit "
                    "(its aspect ratio differs)"
                )
            m = mask_at(m, (H, W))
        if float(m.max()) <= 0:
            raise GramstyleError(f"mask {i} is empty (all black): its style has no region")
        out.append(m)
    masks = torch.cat(out)  # (K, 1, H, W)
    uncovered = float((masks.sum(0) < 1e-3).float().mean())
    if uncovered > 0.01:
        notes.append(f"{uncovered:.0%} of the output is in no mask and gets no style")
    return masks, notes


def mask_at(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """``(K, 1, H, W)`` masks resized to a layer's ``(nH, nW)``, antialiased (soft seams)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.interpolate(masks, size=size, mode="bilinear", antialias=True).clamp(0, 1)


def masked_gram(a: Tensor, m: Tensor, eps: float = 1e-8) -> Tensor:
    """Style matrix of each masked region, per unit of area.

    ``a``: ``(1, nC, nH, nW)``; ``m``: ``(K, 1, nH, nW)`` -> ``(K, nC, nC)`` with
    ``G_k = sum_ij m_kij a_ij a_ij^T / sum_ij m_kij``. With ``m`` all ones this is
    :func:`gramstyle.nn.losses.normalized_gram`.
    """
    f = a * m.sqrt()  # (K, nC, nH, nW): sqrt so the product of two factors carries m
    area = m.sum(dim=(-3, -2, -1)).clamp_min(eps)  # (K,)
    return gram_matrix(f) / area[:, None, None]


def masked_style_cost(targets: Tensor, a_G: Tensor, m: Tensor) -> Tensor:
    """``J_style[l]`` over regions: ``sum_k area_k / (4 nC^2) ||T_k - G_k(G)||_F^2``.

    ``targets``: ``(K, nC, nC)`` (each style's ``G(S)/(nH nW)``); ``a_G``:
    ``(1, nC, nH, nW)``; ``m``: ``(K, 1, nH, nW)`` at the layer's resolution.
    ``area_k`` is the mean of mask k, so a single all-white mask reproduces
    :func:`gramstyle.nn.losses.style_matrix_cost`.
    """
    return region_cost(targets, masked_gram(a_G, m), m.mean(dim=(-3, -2, -1)))


def region_cost(targets: Tensor, G: Tensor, area: Tensor) -> Tensor:
    """``sum_k area_k / (4 nC^2) ||T_k - G_k||_F^2`` from the regions' style matrices.

    ``targets``, ``G``: ``(K, nC, nC)``, ``G`` per unit of area (:func:`masked_gram`);
    ``area``: ``(K,)``, each mask's mean. The tiled objective sums ``G`` over tiles
    first, then calls this.
    """
    n_C = G.shape[-1]
    diff = targets - G  # (K, nC, nC)
    return (area * (diff * diff).sum(dim=(-2, -1))).sum() / (4 * n_C * n_C)
