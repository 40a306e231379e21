"""Optical flow between frames, warping, and where a warp can be trusted.

Conventions: images are ``(B, C, H, W)``; a flow is ``(B, 2, H, W)`` in pixels, channel 0
the x (column) and channel 1 the y (row) displacement. The flow from ``a`` to ``b``
says where each pixel of ``a`` is found in ``b``: ``a(p) ~ b(p + flow(p))``, so
``warp(b, flow)`` looks like ``a``.

- :func:`dis_flow`: OpenCV's DIS optical flow (Kroeger et al. 2016), on the CPU.
- :func:`warp`: ``W(x)(p) = x(p + flow(p))``, bilinear (``torch.grid_sample``).
- :func:`reliable`: Ruder, Dosovitskiy & Brox (2016)'s forward-backward consistency
  check (disocclusions) and motion-boundary check, plus pixels that warp from outside
  the frame; 1 where the warped image can be trusted, 0 elsewhere.
- :func:`long_term_masks`: their long-term weights, each pixel tied to the nearest
  earlier frame in which it is visible.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ..errors import GramstyleError

#: OpenCV DIS presets by name.
DIS_PRESETS = ("ultrafast", "fast", "medium")

_local = threading.local()  # one DIS object per thread and preset (they keep buffers)


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise GramstyleError("video needs OpenCV: pip install 'gramstyle[video]'") from None
    return cv2


def _dis(preset: str) -> Any:
    cv2 = _cv2()
    cache = getattr(_local, "dis", None)
    if cache is None:
        cache = _local.dis = {}
    if preset not in cache:
        if preset not in DIS_PRESETS:
            raise GramstyleError(f"flow preset must be one of {', '.join(DIS_PRESETS)}")
        code = getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}")
        cache[preset] = cv2.DISOpticalFlow_create(code)
    return cache[preset]


def _grey_u8(x: Tensor) -> Any:
    """``(1, 3, H, W)`` in [0, 1] -> ``(H, W)`` uint8 luma (Rec. 601 weights)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    y = (x * w).sum(1)[0].clamp(0, 1).mul(255).round().to(torch.uint8)
    return y.cpu().numpy()


def dis_flow(a: Tensor, b: Tensor, preset: str = "medium") -> Tensor:
    """Flow from ``a`` to ``b`` (``(1, 3, H, W)`` each): ``(1, 2, H, W)`` float32 on
    ``a``'s device, computed on the CPU from 8-bit luma."""
    if a.shape != b.shape or a.dim() != 4 or a.shape[:2] != (1, 3):
        raise ValueError(
            f"frames must both be (1, 3, H, W), got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    f = _dis(preset).calc(_grey_u8(a), _grey_u8(b), None)  # (H, W, 2): x, y
    return torch.from_numpy(f).permute(2, 0, 1).unsqueeze(0).to(a.device)


def pixel_grid(h: int, w: int, device: torch.device | None = None) -> Tensor:
    """``(1, 2, H, W)``: each pixel's own ``(x, y)`` (cached per size; do not modify)."""
    return _pixel_grid(h, w, str(device or "cpu"))


@lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int, device: str) -> Tensor:
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=torch.device(device)),
        torch.arange(w, dtype=torch.float32, device=torch.device(device)),
        indexing="ij",
    )
    return torch.stack([xx, yy]).unsqueeze(0)


def warp(x: Tensor, flow: Tensor, mode: str = "bilinear") -> Tensor:
    """``W(x)(p) = x(p + flow(p))``: ``x`` ``(B, C, H, W)``, ``flow`` ``(B, 2, H, W)``.

    Bilinear (Lai et al.'s metric) or ``mode="bicubic"`` (sharper, clamped to the
    input's range: a picture warped again every frame keeps its texture longer).
    Positions outside the frame take the nearest border pixel (the masks of
    :func:`reliable` exclude them). Whole-pixel flows move pixels exactly.
    """
    if flow.shape[-2:] != x.shape[-2:] or flow.shape[1] != 2:
        raise ValueError(f"flow {tuple(flow.shape)} does not fit image {tuple(x.shape)}")
    h, w = x.shape[-2:]
    pos = pixel_grid(h, w, x.device) + flow.to(x.dtype)
    # align_corners=True: -1 and 1 are the centres of the first and last pixels.
    gx = 2 * pos[:, 0] / max(w - 1, 1) - 1
    gy = 2 * pos[:, 1] / max(h - 1, 1) - 1
    grid = torch.stack([gx, gy], dim=-1)  # (B, H, W, 2)
    out = F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=True)
    return out.clamp(float(x.min()), float(x.max())) if mode == "bicubic" else out


def inside(flow: Tensor) -> Tensor:
    """``(B, 1, H, W)``: 1 where ``p + flow(p)`` lies inside the frame."""
    h, w = flow.shape[-2:]
    pos = pixel_grid(h, w, flow.device) + flow
    ok = (pos[:, 0] >= 0) & (pos[:, 0] <= w - 1) & (pos[:, 1] >= 0) & (pos[:, 1] <= h - 1)
    return ok.unsqueeze(1).float()


def disoccluded(flow: Tensor, back: Tensor) -> Tensor:
    """``(B, 1, H, W)``: 1 where following ``flow`` then ``back`` does not return home.

    Ruder et al. 2016, eq. (4): with ``w~(p) = back(p + flow(p))``, a pixel is
    disoccluded when ``|w~ + flow|^2 > 0.01 (|w~|^2 + |flow|^2) + 0.5``.
    """
    wt = warp(back, flow)
    lhs = (wt + flow).pow(2).sum(1, keepdim=True)
    rhs = 0.01 * (wt.pow(2).sum(1, keepdim=True) + flow.pow(2).sum(1, keepdim=True)) + 0.5
    return (lhs > rhs).float()


def motion_boundary(flow: Tensor) -> Tensor:
    """``(B, 1, H, W)``: 1 on motion boundaries, Ruder et al. 2016, eq. (5):
    ``|grad u|^2 + |grad v|^2 > 0.01 |flow|^2 + 0.002`` (central differences)."""
    p = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    dx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) / 2
    dy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) / 2
    grad2 = (dx.pow(2) + dy.pow(2)).sum(1, keepdim=True)
    return (grad2 > 0.01 * flow.pow(2).sum(1, keepdim=True) + 0.002).float()


def reliable(flow: Tensor, back: Tensor) -> Tensor:
    """``(B, 1, H, W)`` weights ``c``: 1 where ``warp(x, flow)`` can be trusted, else 0.

    ``flow`` goes from the current frame to an earlier one (it warps the earlier
    output onto the current frame), ``back`` the other way. Zero at disocclusions,
    motion boundaries and pixels whose source lies outside the frame.
    """
    bad = torch.maximum(disoccluded(flow, back), motion_boundary(flow))
    return (1 - bad) * inside(flow)


def long_term_masks(masks: Sequence[Tensor]) -> list[Tensor]:
    """Ruder et al. 2016, eq. (8): ``c_long[j] = max(c[j] - sum_{k<j} c[k], 0)``.

    ``masks[j]`` is the reliability of the warp from the ``j``-th nearest earlier
    frame used; the result ties each pixel to the nearest one in which it is visible,
    so the long-term terms add constraints only where the short-term ones have none.
    """
    out, seen = [], None
    for c in masks:
        out.append(c if seen is None else (c - seen).clamp(min=0))
        seen = c if seen is None else seen + c
    return out
