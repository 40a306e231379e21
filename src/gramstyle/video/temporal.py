"""Temporal consistency: the cost that ties a frame to its warped predecessors, and the
warping error that measures flicker.

- :class:`TemporalCost`: Ruder, Dosovitskiy & Brox (2016)'s short- and long-term
  temporal loss, ``W * sum_j mean(c_j * (x - warp(x_{t-j}))^2)``, as an ``extra_cost``
  a method that optimises adds to J (pixel space; the mean runs over ``C H W`` as in
  their ``1/D``); a one-pass method (AdaIN) honours it by the per-pixel minimiser of
  the same kind of cost near its result (:func:`blend_towards`).
- :func:`warping_error` / :class:`WarpingError`: Lai et al. (2018)'s
  ``E_warp = mean_t sum M (O_t - W(O_{t+1}))^2 / sum M`` (squared RGB distance per pixel,
  averaged over the non-occluded pixels ``M``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..inputs import working_image
from .flow import warp


@dataclass(frozen=True)
class Anchor:
    """An earlier output warped onto the current frame: ``image`` ``(1, 3, H, W)`` and its
    weights ``mask`` ``(1, 1, H, W)`` (1 = reliable), from ``offset`` frames back."""

    offset: int
    image: Tensor
    mask: Tensor


class TemporalCost:
    """``x -> {"temporal": W * sum_j mean(c_j * (x - warped_j)^2)}`` for the engine's J.

    ``anchors`` are the warped earlier outputs with their (long-term) masks; ``weight``
    is ``W`` (``--temporal-weight``). J is of the image the method optimises, which is
    the luminance alone with ``preserve_color="luminance"``: the anchors are compared
    in that form; :meth:`proximal` works on the finished colour image.
    """

    def __init__(
        self, anchors: Sequence[Anchor], weight: float, preserve_color: str = "none"
    ) -> None:
        self.anchors = list(anchors)
        self.weight = float(weight)
        self.seen = [
            Anchor(a.offset, working_image(a.image, preserve_color), a.mask) for a in self.anchors
        ]

    def proximal(self, image: Tensor) -> Tensor:
        """The per-pixel form's minimiser near ``image`` (:func:`blend_towards`)."""
        return blend_towards(image, self.anchors, self.weight)

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        total = x.new_zeros(())
        for a in self.seen:
            img = a.image.to(x)
            mask = a.mask.to(x)
            if img.shape[-2:] != x.shape[-2:]:  # only the final, full-size stage is tied
                continue
            total = total + (mask * (x - img).pow(2)).mean()
        return {"temporal": self.weight * total}


def fill(anchors: Sequence[Anchor], content: Tensor) -> Tensor:
    """The start image of a frame: each pixel from the nearest earlier output in which
    it is visible (the anchors' long-term masks sum to at most 1), the rest from
    ``content`` (Ruder et al.'s initialisation, occluded pixels from the content)."""
    out = content.clone()
    covered = torch.zeros_like(content[:, :1])
    for a in anchors:
        out = out + a.mask * (a.image - content)
        covered = covered + a.mask
    assert float(covered.max()) <= 1 + 1e-5, "anchor masks must be long-term (disjoint)"
    return out.clamp(0, 1)


def blend_towards(image: Tensor, anchors: Sequence[Anchor], weight: float) -> Tensor:
    """``argmin_x |x - image|^2 + W sum_j c_j |x - warped_j|^2``, pixel by pixel:
    ``(image + W sum_j c_j warped_j) / (1 + W sum_j c_j)``.

    With one anchor this keeps ``W / (1 + W)`` of the warped previous output where the
    flow is reliable and the new image elsewhere.
    """
    num = image.clone()
    den = torch.ones_like(image[:, :1])
    for a in anchors:
        num = num + weight * a.mask * a.image
        den = den + weight * a.mask
    return (num / den).clamp(0, 1)


def warping_error(o_t: Tensor, o_next: Tensor, flow: Tensor, mask: Tensor) -> float:
    """One pair's warping error: ``sum M |O_t - W(O_{t+1})|^2 / sum M``.

    ``flow`` goes from frame ``t`` to ``t+1``; ``mask`` ``(1, 1, H, W)`` marks pixels
    visible in both. Images in [0, 1]; the squared distance sums the RGB channels.
    """
    d = (o_t - warp(o_next, flow)).pow(2).sum(1, keepdim=True)
    m = mask.to(d)
    return float((m * d).sum() / m.sum().clamp(min=1))


class WarpingError:
    """Running ``E_warp`` over a clip: :meth:`add` each consecutive pair, read :attr:`value`."""

    def __init__(self) -> None:
        self.total, self.pairs = 0.0, 0

    def add(self, o_t: Tensor, o_next: Tensor, flow: Tensor, mask: Tensor) -> float:
        e = warping_error(o_t, o_next, flow, mask)
        self.total += e
        self.pairs += 1
        return e

    @property
    def value(self) -> float:
        return self.total / max(self.pairs, 1)
