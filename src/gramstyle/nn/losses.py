"""The costs of neural style transfer as pure functions, named as in the lecture.

Tensors are PyTorch activations shaped ``(B, nC, nH, nW)`` (the lecture's
``nH x nW x nC`` block, channels first). Every cost is computed in float32 even when
the network ran in bfloat16/float16, because Gram sums over many positions overflow or
lose precision in 16-bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def _at_least_f32(x: Tensor) -> Tensor:
    """Upcast 16-bit activations; keep float32/float64 as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_activation(a: Tensor, name: str) -> None:
    if a.dim() not in (3, 4):
        raise ValueError(f"{name} must be (B, nC, nH, nW) or (nC, nH, nW), got {tuple(a.shape)}")


def gram_matrix(a: Tensor) -> Tensor:
    """Style matrix ``G_kk' = sum_ij a_ijk a_ijk'`` (unnormalised, mean not subtracted).

    ``a``: ``(B, nC, nH, nW)`` -> ``(B, nC, nC)``; or ``(nC, nH, nW)`` -> ``(nC, nC)``.

    >>> a = torch.ones(1, 2, 3, 3)
    >>> gram_matrix(a)
    tensor([[[9., 9.],
             [9., 9.]]])
    """
    _check_activation(a, "a")
    f = _at_least_f32(a.flatten(-2))  # (..., nC, nH*nW)
    with torch.autocast(a.device.type, enabled=False):
        if f.requires_grad:
            return _Gram.apply(f)
        return f @ f.transpose(-1, -2)


class _Gram(torch.autograd.Function):
    """``f f^T`` whose gradient is one product, laid out in memory like ``f``.

    Autograd's own backward of ``f @ f.T`` takes two products (``dG f`` and ``f^T dG``)
    and adds them, one of them in the other memory layout than a channels-last
    activation, and the sum then meets the next layer's gradient in that layout again:
    at 577x433 these strided adds and the extra product were about a tenth of a step.
    Since ``dG`` enters as ``dG + dG^T``, one product gives the same gradient.
    """

    @staticmethod
    def forward(ctx: Any, f: Tensor) -> Tensor:
        ctx.save_for_backward(f)
        return f @ f.transpose(-1, -2)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dG: Tensor) -> Tensor:
        (f,) = ctx.saved_tensors
        S = dG + dG.transpose(-1, -2)
        if f.stride(-1) == 1:  # positions contiguous (NCHW)
            return S @ f
        # Channels contiguous (channels-last): (f^T S)^T has the same strides as f.
        return (f.transpose(-1, -2) @ S).transpose(-1, -2)


def content_cost(a_C: Tensor, a_G: Tensor) -> Tensor:
    """``J_content = 1/(4 nH nW nC) * sum (a_C - a_G)^2`` (summed over a batch).

    >>> content_cost(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    tensor(0.2500)
    """
    _check_activation(a_G, "a_G")
    if a_C.shape != a_G.shape:
        raise ValueError(f"shapes differ: a_C {tuple(a_C.shape)}, a_G {tuple(a_G.shape)}")
    n_C, n_H, n_W = a_G.shape[-3:]
    diff = _at_least_f32(a_C) - _at_least_f32(a_G)
    return (diff * diff).sum() / (4 * n_C * n_H * n_W)


def normalized_gram(a: Tensor) -> Tensor:
    """``G / (nH nW)``: the style matrix per position, comparable across image sizes."""
    n_H, n_W = a.shape[-2:]
    return gram_matrix(a) / (n_H * n_W)


def style_matrix_cost(target: Tensor, a_G: Tensor) -> Tensor:
    """``J_style[l]`` from a precomputed target ``normalized_gram(a_S)`` and ``a_G``.

    ``1/(2 nH nW nC)^2 ||G(S) - G(G)||_F^2`` equals ``1/(4 nC^2) ||G(S)/M - G(G)/M||_F^2``
    with ``M = nH nW``; the second form keeps float32 sums small. Deviation from
    docs/maths.md, only when the style image has another size than ``G``: ``G(S)`` is
    rescaled by ``M_G / M_S`` so the cost compares like with like (the lecture assumes
    equal sizes, where the two agree exactly).
    """
    _check_activation(a_G, "a_G")
    return gram_cost(target, normalized_gram(a_G))


def gram_cost(target: Tensor, G: Tensor) -> Tensor:
    """``1/(4 nC^2) ||target - G||_F^2`` for per-position style matrices ``(B, nC, nC)``.

    :func:`style_matrix_cost` once ``G(G)/(nH nW)`` is known; the tiled objective
    (:mod:`gramstyle.gatys.tiles`) sums ``G(G)`` over tiles first, then calls this.
    """
    n_C = G.shape[-1]
    diff = target - G
    return (diff * diff).sum() / (4 * n_C * n_C)


def layer_style_cost(a_S: Tensor, a_G: Tensor) -> Tensor:
    """``J_style[l](S, G) = 1/(2 nH nW nC)^2 * sum_kk' (G(S)_kk' - G(G)_kk')^2``.

    >>> a_S = torch.ones(1, 1, 2, 2); a_G = torch.zeros(1, 1, 2, 2)
    >>> layer_style_cost(a_S, a_G)   # G(S) = 4, G(G) = 0: 16 / (2*2*2*1)^2
    tensor(0.2500)
    """
    _check_activation(a_S, "a_S")
    return style_matrix_cost(normalized_gram(a_S), a_G)


def style_cost(
    a_S: Mapping[str, Tensor], a_G: Mapping[str, Tensor], weights: Mapping[str, float]
) -> Tensor:
    """``J_style = sum_l lambda[l] * J_style[l]`` over the layers named in ``weights``."""
    costs = [w * layer_style_cost(a_S[name], a_G[name]) for name, w in weights.items()]
    return torch.stack(costs).sum()


def tv_cost(x: Tensor) -> Tensor:
    """Total variation: mean over pixels of squared differences to the right and below.

    Not in the lecture; an optional smoothness prior (off by default).

    >>> tv_cost(torch.tensor([[[[0., 1.], [0., 1.]]]]))
    tensor(0.5000)
    """
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return ((dx * dx).sum() + (dy * dy).sum()) / x[..., 0, :, :].numel()


def total_cost(
    J_content: Tensor,
    J_style: Tensor,
    alpha: float,
    beta: float,
    J_tv: Tensor | None = None,
    tv_weight: float = 0.0,
) -> Tensor:
    """``J(G) = alpha J_content + beta J_style`` (+ ``tv_weight * J_tv`` when given)."""
    J = alpha * J_content + beta * J_style
    if J_tv is not None and tv_weight:
        J = J + tv_weight * J_tv
    return J
