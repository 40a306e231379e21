"""The matting Laplacian of a content photo, applied without building it (Luan et al. 2017).

Levin, Lischinski & Weiss's closed-form matting (2008) defines, for an image ``I`` and
its 3x3 windows ``w_k`` lying fully inside the image (``|w_k| = 9``),

    L_ij = sum_{k : i, j in w_k} (delta_ij - 1/9 (1 + (I_i - mu_k)^T D_k^-1 (I_j - mu_k)))

with ``mu_k`` and ``Sigma_k`` the window's colour mean and (biased) covariance and
``D_k = Sigma_k + eps/9 I_3``, ``eps = 1e-7``. For one channel ``v`` of an output,
``v^T L v = 9 sum_k (var_k(v) - c_k^T D_k^-1 c_k)``, ``c_k`` the window's covariance of
``I`` and ``v``: the residual of the best (ridge) affine fit ``v ~ a_k^T I + b_k`` in
every window. It is zero exactly when the output is a locally affine map of the
content's colours, which is what Deep Photo Style Transfer's regulariser asks for.

The product is computed matrix-free with the guided filter's identities (He, Sun & Tang
2010): with ``vbar_k`` the window mean of ``v``, ``a_k = D_k^-1 c_k`` and
``b_k = vbar_k - mu_k^T a_k``,

    (L v)_i = n_i v_i - (sum_{k ni i} a_k)^T I_i - sum_{k ni i} b_k

(``n_i`` the number of windows holding pixel ``i``): 3x3 box means over the windows,
then 3x3 sums back onto the pixels. :func:`matting_laplacian` computes ``mu_k`` and
``D_k^-1`` once per content image; :func:`laplacian_apply` then costs a few box filters
per call, and memory stays linear in the pixels: 13 values a pixel stored, and the
product's temporaries (some 50 values a pixel) come in bands of :data:`BAND_PIXELS`.

Precision: ``D_k^-1`` is computed in float64, because with ``eps = 1e-7`` nearly grey
windows make ``D_k`` almost singular and its adjugate cancels badly in float32. The
product runs in the stored dtype; in float32 it carries 0.4-0.6% relative (RMS) error
on the benchmark's photos (large ``a_k`` cancel against the pixels), harmless in an
optimiser's gradient; the cost itself agrees with float64 within 0.05%. Tests use float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

#: Levin et al.'s and Luan et al.'s regulariser of the window covariances.
EPS = 1e-7

#: Pixels (times channels) per band of the product and of the precomputation: bounds
#: their temporaries (some 200 MB in float32) whatever the image's size.
BAND_PIXELS = 1 << 20

#: The (row, column) of each stored entry of the symmetric 3x3 ``D_k^-1``.
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def _tap3(x: Tensor, dim: int) -> Tensor:
    """Sum of 3 neighbours along ``dim`` where all 3 exist (length ``n -> n - 2``)."""
    n = x.shape[dim] - 2
    return (x.narrow(dim, 0, n) + x.narrow(dim, 1, n)).add_(x.narrow(dim, 2, n))


def _spread3(x: Tensor, dim: int) -> Tensor:
    """The adjoint of :func:`_tap3`: each value added to its 3 pixels (``n -> n + 2``)."""
    n = x.shape[dim]
    shape = list(x.shape)
    shape[dim] = n + 2
    out = x.new_zeros(shape)
    for offset in range(3):
        out.narrow(dim, offset, n).add_(x)
    return out


def _box_mean(x: Tensor) -> Tensor:
    """Mean over each 3x3 window inside the image: ``(B, C, H, W) -> (B, C, H-2, W-2)``.

    Separable sums of shifted views: several times faster than ``avg_pool2d`` on CPU.
    """
    return _tap3(_tap3(x, -2), -1).div_(9)


def _window_sum(x: Tensor) -> Tensor:
    """Sum over the windows holding each pixel: ``(B, C, H-2, W-2) -> (B, C, H, W)``.

    Value ``[k]`` belongs to the window centred at pixel ``k + (1, 1)``, which covers
    pixels ``k .. k + (2, 2)``: the adjoint of a 3x3 box sum.
    """
    return _spread3(_spread3(x, -2), -1)


def sym3_inverse(s: list[Tensor]) -> list[Tensor]:
    """Inverse of symmetric positive definite 3x3 matrices, given and returned as their
    ``_PAIRS`` entries, through ``L D L^T`` (Cholesky without square roots).

    The adjugate over the determinant cancels twice for the nearly rank-one covariances
    of almost grey windows (a relative error of 1e-4 in float64 there); the factorisation
    is backward stable and agrees with ``torch.linalg.inv`` to 1e-9.
    """
    a, b, c, d, e, f = s
    l21, l31 = b / a, c / a
    d2 = d - l21 * b
    l32 = (e - l31 * b) / d2
    d3 = f - l31 * c - l32 * l32 * d2
    m31 = l21 * l32 - l31  # L^-1 = [[1, 0, 0], [-l21, 1, 0], [m31, -l32, 1]]
    return [
        1 / a + l21 * l21 / d2 + m31 * m31 / d3,
        -l21 / d2 - l32 * m31 / d3,
        m31 / d3,
        1 / d2 + l32 * l32 / d3,
        -l32 / d3,
        1 / d3,
    ]


@dataclass(frozen=True)
class MattingLaplacian:
    """What ``L v`` needs for one content image; build it with :func:`matting_laplacian`.

    ``image``: ``(1, 3, H, W)`` the content ``I``; ``mean``: ``(1, 3, H-2, W-2)`` the
    window means ``mu_k`` (index ``k`` is the window centred at pixel ``k + (1, 1)``);
    ``inv``: ``(1, 6, H-2, W-2)`` the entries ``_PAIRS`` of ``D_k^-1``; ``count``:
    ``(1, 1, H, W)`` the windows holding each pixel (9 inside, fewer at the border).
    An image under 3 pixels on a side has no window: ``L = 0``.
    """

    image: Tensor
    mean: Tensor
    inv: Tensor
    count: Tensor
    eps: float = EPS

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the content image."""
        return int(self.image.shape[-2]), int(self.image.shape[-1])

    def crop(self, top: int, left: int, height: int, width: int) -> MattingLaplacian:
        """The Laplacian of the content's crop ``[top, top+height) x [left, left+width)``.

        Equal to :func:`matting_laplacian` of the cropped content (its windows are the
        ones lying fully inside the crop), without recomputing anything.
        """
        H, W = self.size
        if not (0 <= top < top + height <= H and 0 <= left < left + width <= W):
            raise ValueError(f"crop {top, left, height, width} is not inside {H}x{W}")
        image = self.image[..., top : top + height, left : left + width]
        h, w = max(height - 2, 0), max(width - 2, 0)
        mean = self.mean[..., top : top + h, left : left + w]
        inv = self.inv[..., top : top + h, left : left + w]
        return MattingLaplacian(image, mean, inv, _counts(mean, (height, width)), self.eps)

    def for_tile(
        self, rows: tuple[int, int], cols: tuple[int, int]
    ) -> tuple[MattingLaplacian, tuple[slice, slice]]:
        """The share of ``L`` owned by the tile ``rows x cols`` (half-open, in pixels).

        ``v^T L v`` is a sum over windows, so tiles that partition the image split it
        exactly when each tile owns the windows centred in it. Those windows cover the
        tile grown by one pixel (clipped to the image): returns the Laplacian of that
        grown crop and the slices that cut it from an output. Summing
        :func:`photoreal_cost` over a partition (each with the whole image's
        ``n_pixels``) gives the whole image's cost; the gradients add up too.
        """
        H, W = self.size
        (y0, y1), (x0, x1) = rows, cols
        top, bottom = max(y0 - 1, 0), min(y1 + 1, H)
        left, right = max(x0 - 1, 0), min(x1 + 1, W)
        lap = self.crop(top, left, bottom - top, right - left)
        return lap, (slice(top, bottom), slice(left, right))

    def to(self, dtype: torch.dtype) -> MattingLaplacian:
        """The same Laplacian with its tensors in ``dtype`` (no recomputation)."""
        return MattingLaplacian(
            self.image.to(dtype),
            self.mean.to(dtype),
            self.inv.to(dtype),
            self.count.to(dtype),
            self.eps,
        )


def _counts(mean: Tensor, size: tuple[int, int]) -> Tensor:
    """``(1, 1, H, W)``: how many windows (of the window grid ``mean``) hold each pixel."""
    if mean.shape[-1] == 0 or mean.shape[-2] == 0:
        return mean.new_zeros(1, 1, *size)
    return _window_sum(mean.new_ones(1, 1, *mean.shape[-2:]))


def matting_laplacian(
    image: Tensor, eps: float = EPS, dtype: torch.dtype = torch.float32
) -> MattingLaplacian:
    """Precompute the matting Laplacian of ``image`` ``(1, 3, H, W)`` in [0, 1], H, W >= 3.

    Window means and ``(Sigma_k + eps/9 I)^-1`` are computed in float64 and stored in
    ``dtype`` (float32 by default: 13 values a pixel).
    """
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ValueError(f"expected a (1, 3, H, W) image, got {tuple(image.shape)}")
    H, W = image.shape[-2:]
    if H < 3 or W < 3:
        raise ValueError(f"the matting Laplacian needs 3x3 windows; the image is {W}x{H}")
    # In bands of window rows (each reads its rows plus 2), so the float64 temporaries
    # (about 20 values a pixel) stay bounded at print size.
    h, w = H - 2, W - 2
    mean = image.new_empty(1, 3, h, w, dtype=dtype)
    inv = image.new_empty(1, 6, h, w, dtype=dtype)
    step = max(1, BAND_PIXELS // W)
    for r0 in range(0, h, step):
        r1 = min(r0 + step, h)
        mu, inverse = _window_stats(image[..., r0 : r1 + 2, :].detach().double(), eps)
        mean[..., r0:r1, :] = mu
        inv[..., r0:r1, :] = inverse
    return MattingLaplacian(image.detach().to(dtype), mean, inv, _counts(mean, (H, W)), eps)


def _window_stats(img: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Window means ``(1, 3, h, w)`` and ``(Sigma_k + eps/9 I)^-1`` ``(1, 6, h, w)`` of a
    float64 image ``(1, 3, h + 2, w + 2)``."""
    mu = _box_mean(img)
    sigma = [
        _box_mean(img[:, i : i + 1] * img[:, j : j + 1]) - mu[:, i : i + 1] * mu[:, j : j + 1]
        for i, j in _PAIRS
    ]
    for diagonal in (0, 3, 5):
        sigma[diagonal] = sigma[diagonal] + eps / 9
    return mu, torch.cat(sym3_inverse(sigma), dim=1)


def laplacian_apply(lap: MattingLaplacian, v: Tensor) -> Tensor:
    """``L v`` for each channel of ``v`` ``(1, C, H, W)`` -> ``(1, C, H, W)`` in ``lap``'s dtype.

    Differentiable (``L`` is symmetric, so the backward pass is one more product).
    """
    if v.dim() != 4 or v.shape[0] != 1 or tuple(v.shape[-2:]) != lap.size:
        raise ValueError(f"expected v of shape (1, C, {lap.size[0]}, {lap.size[1]}), got {v.shape}")
    return _Apply.apply(v, lap)


class _Apply(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, v: Tensor, lap: MattingLaplacian) -> Tensor:
        ctx.lap, ctx.dtype = lap, v.dtype
        return _product(lap, v.detach().to(lap.image.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return _product(ctx.lap, grad.to(ctx.lap.image.dtype)).to(ctx.dtype), None


def _product(lap: MattingLaplacian, v: Tensor) -> Tensor:
    """``L v`` (no autograd), in bands of rows so the temporaries stay bounded.

    Row ``y`` of ``L v`` needs the windows centred on rows ``y-1 .. y+1``, so a band of
    rows is exact from the crop of the band grown by 2 rows (clipped to the image).
    """
    H, W = lap.size
    step = max(1, BAND_PIXELS // (W * v.shape[1]))
    if step >= H:
        return _band_product(lap, v)
    out = torch.empty_like(v)
    for y0 in range(0, H, step):
        y1 = min(y0 + step, H)
        top, bottom = max(y0 - 2, 0), min(y1 + 2, H)
        band = _band_product(lap.crop(top, 0, bottom - top, W), v[..., top:bottom, :])
        out[..., y0:y1, :] = band[..., y0 - top : y1 - top, :]
    return out


def _band_product(lap: MattingLaplacian, v: Tensor) -> Tensor:
    """``L v``: box means, the windows' affine fits, their sums back on the pixels.

    Written with in-place and ``out=`` operations: at 700 px each fresh temporary
    costs as much as the arithmetic on it (page faults), so there are few of them.
    """
    if lap.mean.numel() == 0:
        return torch.zeros_like(v)
    img, mu, C = lap.image, lap.mean, v.shape[1]
    vbar = _box_mean(v)  # (1, C, h, w)
    # Window covariance of each content channel j with each channel of v: (1, 3, C, h, w).
    cov = _box_mean((img[:, :, None] * v[:, None]).flatten(1, 2)).unflatten(1, (3, C))
    cov.sub_(mu[:, :, None] * vbar[:, None])
    inv = {pair: lap.inv[:, n : n + 1] for n, pair in enumerate(_PAIRS)}
    coef = vbar.new_empty(1, 4, C, *vbar.shape[-2:])  # a_k (3 rows) and b_k
    for i in range(3):
        a = coef[:, i]
        torch.mul(inv[min(i, 0), max(i, 0)], cov[:, 0], out=a)
        a.addcmul_(inv[min(i, 1), max(i, 1)], cov[:, 1])
        a.addcmul_(inv[min(i, 2), max(i, 2)], cov[:, 2])
    b = coef[:, 3]
    b.copy_(vbar)
    for i in range(3):
        b.addcmul_(mu[:, i : i + 1], coef[:, i], value=-1)
    sums = _window_sum(coef.flatten(1, 2)).unflatten(1, (4, C))  # (1, 4, C, H, W)
    out = lap.count * v
    for i in range(3):
        out.addcmul_(sums[:, i], img[:, i : i + 1], value=-1)
    return out.sub_(sums[:, 3])


class _Quadratic(torch.autograd.Function):
    """``sum_c v_c^T L v_c / n`` whose gradient ``2 L v / n`` is the product already made."""

    @staticmethod
    def forward(ctx: Any, v: Tensor, lap: MattingLaplacian, n: float) -> Tensor:
        Lv = _product(lap, v.detach().to(lap.image.dtype))
        ctx.save_for_backward(Lv)
        ctx.n, ctx.dtype = n, v.dtype
        return (v.to(Lv.dtype) * Lv).sum() / n

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (Lv,) = ctx.saved_tensors
        return (Lv * (2 * grad.to(Lv.dtype) / ctx.n)).to(ctx.dtype), None, None


def photoreal_cost(lap: MattingLaplacian, output: Tensor, n_pixels: int | None = None) -> Tensor:
    """``sum_c V_c[O]^T L V_c[O] / n_pixels``: Luan et al.'s photorealism regulariser.

    ``output``: ``(1, 3, H, W)`` RGB in [0, 1] at the content's size (or at a tile's
    :meth:`MattingLaplacian.for_tile` crop). Deviation from the paper: divided by the
    number of pixels (default ``H W`` of ``output``; a tile passes the
    whole image's), so the cost is a mean per pixel and the weight ``lambda_m`` does
    not depend on the image size, as the other costs are per position. Its gradient is
    ``2 L V_c[O] / n_pixels``. A scalar in float32 (float64 for a float64 output).
    """
    if output.dim() != 4 or output.shape[0] != 1 or tuple(output.shape[-2:]) != lap.size:
        raise ValueError(f"expected an output of size {lap.size}, got {tuple(output.shape)}")
    n = n_pixels if n_pixels is not None else output.shape[-1] * output.shape[-2]
    cost = _Quadratic.apply(output, lap, float(n))
    return cost.to(torch.float64 if output.dtype == torch.float64 else torch.float32)
