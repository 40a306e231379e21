"""Photorealistic smoothing: the guided filter and the exact matting solve, checked by value."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from gramstyle.nn.matting import laplacian_apply, matting_laplacian, photoreal_cost
from gramstyle.nn.smoothing import (
    _clipped_box_sum,
    guided_filter,
    matting_solve,
    smooth,
    smooth_exact,
)


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _scene(h: int = 40, w: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """A synthetic photo (sky over textured ground, a wavy horizon) and its "stylised"
    version: each region recoloured by its own affine map, plus blocky strokes."""
    y = torch.linspace(0, 1, h, dtype=torch.float64)[:, None].expand(h, w)
    x = torch.linspace(0, 1, w, dtype=torch.float64)[None, :].expand(h, w)
    sky = torch.stack([0.3 + 0.2 * x, 0.5 + 0.1 * y, 0.9 - 0.2 * y])
    texture = F.interpolate(_rand(1, 3, h // 4, w // 4, seed=0), size=(h, w), mode="bilinear")[0]
    ground = 0.2 + 0.3 * texture
    horizon = (y < 0.5 + 0.1 * torch.sin(6 * x)).double()
    content = (horizon * sky + (1 - horizon) * ground)[None].clamp(0, 1)
    warm = torch.tensor([[0.2, 0.5, 0.1], [0.1, 0.3, 0.1], [0.0, 0.1, 0.2]], dtype=torch.float64)
    recolour = horizon * torch.einsum("ij,jhw->ihw", warm, content[0]) + (1 - horizon) * (
        0.6 * content[0].flip(0) + 0.3
    )
    strokes = F.interpolate(_rand(1, 3, h // 4, w // 4, seed=1), size=(h, w), mode="nearest")
    return content, (recolour[None] + 0.15 * (strokes - 0.5)).clamp(0, 1)


def _affine_residual(content: torch.Tensor, out: torch.Tensor) -> float:
    """The local affine residual of ``out`` on ``content`` (3x3 windows), per pixel."""
    return float(photoreal_cost(matting_laplacian(content, dtype=torch.float64), out))


@pytest.mark.parametrize("r", [0, 1, 2, 5, 20])
def test_clipped_box_sum_matches_loops(r):
    x = _rand(1, 2, 7, 9, seed=2)
    want = torch.zeros_like(x)
    for i in range(7):
        for j in range(9):
            want[..., i, j] = x[..., max(i - r, 0) : i + r + 1, max(j - r, 0) : j + r + 1].sum(
                (-2, -1)
            )
    torch.testing.assert_close(_clipped_box_sum(x, r), want)


def test_guided_filter_matches_window_by_window_fits():
    guide, src = _rand(1, 3, 6, 7, seed=3), _rand(1, 2, 6, 7, seed=4)
    r, eps = 2, 1e-2
    G = guide[0].permute(1, 2, 0).numpy()
    P = src[0].permute(1, 2, 0).numpy()
    H, W = 6, 7
    coef = {}
    for ky in range(H):
        for kx in range(W):
            win = (slice(max(ky - r, 0), ky + r + 1), slice(max(kx - r, 0), kx + r + 1))
            Iw, Pw = G[win].reshape(-1, 3), P[win].reshape(-1, 2)
            mu_i, mu_p = Iw.mean(0), Pw.mean(0)
            sigma = (Iw - mu_i).T @ (Iw - mu_i) / len(Iw)
            cov = (Iw - mu_i).T @ (Pw - mu_p) / len(Iw)
            a = np.linalg.solve(sigma + eps * np.eye(3), cov)  # (3, 2)
            coef[ky, kx] = (a, mu_p - mu_i @ a)
    want = np.zeros((H, W, 2))
    for y in range(H):
        for x in range(W):
            ks = [
                (ky, kx)
                for ky in range(H)
                for kx in range(W)
                if abs(ky - y) <= r and abs(kx - x) <= r
            ]
            want[y, x] = np.mean([G[y, x] @ coef[k][0] + coef[k][1] for k in ks], axis=0)
    got = guided_filter(guide, src, r, eps)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_constant_images_stay_constant():
    content, _ = _scene()
    flat = torch.ones(1, 3, 40, 48, dtype=torch.float64) * torch.tensor([0.2, 0.5, 0.9]).view(
        1, 3, 1, 1
    )
    torch.testing.assert_close(smooth(content, flat), flat)
    torch.testing.assert_close(guided_filter(content, flat, 3, 1e-6), flat)
    lap = matting_laplacian(content, dtype=torch.float64)
    exact = smooth_exact(content, flat)
    torch.testing.assert_close(exact.x, flat)
    # From a noisy start too: the solver finds the constant again.
    start = flat + 0.1 * _rand(1, 3, 40, 48, seed=5)
    solved = matting_solve(lap, flat, 100.0, x0=start, tol=1e-10)
    assert solved.iterations > 0
    torch.testing.assert_close(solved.x, flat, rtol=0, atol=1e-8)


def test_an_affine_recolouring_passes_through_the_filter():
    content = _rand(1, 3, 20, 24, seed=6)
    A = torch.tensor([[0.5, -0.2, 0.1], [0.0, 0.8, 0.1], [0.3, 0.3, 0.3]], dtype=torch.float64)
    y = torch.einsum("ij,bjhw->bihw", A, content) + 0.1
    torch.testing.assert_close(guided_filter(content, y, 3, 1e-10), y, rtol=0, atol=1e-6)


def test_smooth_makes_the_result_locally_affine_and_keeps_its_colours():
    content, stylised = _scene()
    out = smooth(content, stylised)
    assert out.shape == stylised.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    before, after = _affine_residual(content, stylised), _affine_residual(content, out)
    assert before > 1e-3
    assert after < 0.1 * before
    # The colours stay the stylised image's (not the content's): region means kept.
    sky = torch.zeros(40, 48, dtype=torch.bool)
    sky[:12] = True  # surely above the horizon
    for region in (sky, ~sky):
        mean_out, mean_y = out[0][:, region].mean(1), stylised[0][:, region].mean(1)
        mean_c = content[0][:, region].mean(1)
        assert float((mean_out - mean_y).abs().max()) < 0.03
        assert float((mean_y - mean_c).abs().max()) > 0.1


def test_matting_solve_reaches_the_dense_solution():
    content, stylised = _scene(10, 12)
    lap = matting_laplacian(content, dtype=torch.float64)
    n = 120
    basis = torch.eye(n, dtype=torch.float64).reshape(1, n, 10, 12)
    L = laplacian_apply(lap, basis)[0].reshape(n, n).numpy()
    weight = 50.0
    solved = matting_solve(lap, stylised, weight, tol=1e-10)
    assert solved.residual <= 1e-10 and 0 < solved.iterations < 2000
    A = np.eye(n) + weight * L
    for c in range(3):
        b = stylised[0, c].flatten().numpy()
        x = solved.x[0, c].flatten().numpy()
        assert np.linalg.norm(b - A @ x) <= 1e-9 * np.linalg.norm(b)
        np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=0, atol=1e-8)


def test_smooth_exact_is_locally_affine_and_converged():
    content, stylised = _scene()
    lap = matting_laplacian(content, dtype=torch.float64)
    exact = smooth_exact(content, stylised, tol=1e-6)
    assert exact.residual <= 1e-6
    assert _affine_residual(content, exact.x) < 0.1 * _affine_residual(content, stylised)
    b = stylised.double()
    r = b - exact.x - 1 / (9 * 1e-4) * laplacian_apply(lap, exact.x)
    assert float(r.norm() / b.norm()) < 1e-5


def test_a_converged_channel_stays_finite_in_float32():
    content, stylised = _scene(20, 24)
    y = stylised.float().clone()
    y[:, 0] = 0.4  # converged from the start (a constant), beside two that are not
    solved = matting_solve(matting_laplacian(content.float()), y, 10.0, tol=1e-5)
    assert bool(torch.isfinite(solved.x).all()) and solved.residual <= 1e-5
    torch.testing.assert_close(solved.x[:, 0], y[:, 0], rtol=0, atol=1e-4)  # float32 L 1 ~ 0
