"""The matrix-free matting Laplacian against the explicit one, built from its definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gramstyle.nn.matting import (
    EPS,
    laplacian_apply,
    matting_laplacian,
    photoreal_cost,
)


def explicit_laplacian(image: torch.Tensor, eps: float = EPS):
    """Levin et al.'s ``L`` as a sparse (scipy) or dense (numpy) ``(HW, HW)`` matrix.

    Built window by window from the definition, as the authors' Matlab code does, so it
    shares nothing with the box-filter product under test. Pixel ``(y, x)`` is row
    ``y W + x``, as ``Tensor.flatten`` orders them.
    """
    img = image[0].permute(1, 2, 0).double().numpy()  # (H, W, 3)
    H, W = img.shape[:2]
    idx = np.arange(H * W).reshape(H, W)
    rows, cols, vals = [], [], []
    for y in range(1, H - 1):
        for x in range(1, W - 1):
            win = idx[y - 1 : y + 2, x - 1 : x + 2].ravel()
            X = img[y - 1 : y + 2, x - 1 : x + 2].reshape(9, 3)
            X = X - X.mean(0)
            D = np.linalg.inv(X.T @ X / 9 + eps / 9 * np.eye(3))
            block = np.eye(9) - (1 + X @ D @ X.T) / 9
            rows.append(np.repeat(win, 9))
            cols.append(np.tile(win, 9))
            vals.append(block.ravel())
    r, c, v = (np.concatenate(a) for a in (rows, cols, vals))
    try:
        from scipy import sparse
    except ImportError:  # a clone without scipy: the same triplets, summed densely
        dense = np.zeros((H * W, H * W))
        np.add.at(dense, (r, c), v)
        return dense
    return sparse.coo_matrix((v, (r, c)), shape=(H * W, H * W)).tocsr()


def _random_image(h: int, w: int, seed: int) -> torch.Tensor:
    return torch.rand(
        1, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def _dense_operator(lap, n: int) -> np.ndarray:
    """The matrix-free operator as a dense matrix: ``L`` applied to every basis vector."""
    H, W = lap.size
    basis = torch.eye(n, dtype=torch.float64).reshape(1, n, H, W)
    return laplacian_apply(lap, basis)[0].reshape(n, n).numpy().T


@pytest.mark.parametrize(("h", "w", "seed"), [(7, 9, 0), (12, 10, 1), (3, 3, 2), (3, 8, 3)])
def test_product_matches_explicit_laplacian(h, w, seed):
    content = _random_image(h, w, seed)
    L = explicit_laplacian(content)
    lap = matting_laplacian(content, dtype=torch.float64)
    v = torch.randn(
        1, 3, h, w, generator=torch.Generator().manual_seed(seed + 10), dtype=torch.float64
    )
    got = laplacian_apply(lap, v)[0].reshape(3, -1).numpy()
    want = np.stack([L @ v[0, c].flatten().numpy() for c in range(3)])
    assert np.abs(want).max() > 0.1  # a real product, not zeros
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-9 * np.abs(want).max())


def test_product_matches_on_nearly_grey_content():
    """Almost grey windows make ``D_k`` nearly singular (the float32-hard case)."""
    g = torch.Generator().manual_seed(4)
    grey = torch.rand(1, 1, 8, 9, generator=g, dtype=torch.float64)
    content = grey.expand(1, 3, 8, 9) + 1e-3 * torch.rand(
        1, 3, 8, 9, generator=g, dtype=torch.float64
    )
    L = explicit_laplacian(content)
    lap = matting_laplacian(content, dtype=torch.float64)
    v = torch.rand(1, 1, 8, 9, generator=g, dtype=torch.float64)
    got = laplacian_apply(lap, v).flatten().numpy()
    want = L @ v.flatten().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * np.abs(want).max())


def test_laplacian_is_symmetric_psd_and_kills_constants_and_affine_maps():
    content = _random_image(7, 9, 5)
    lap = matting_laplacian(content, dtype=torch.float64)
    L = _dense_operator(lap, 63)
    np.testing.assert_allclose(L, L.T, atol=1e-10)
    eig = np.linalg.eigvalsh(L)
    assert eig.min() > -1e-9
    assert eig.max() <= 9 + 1e-9  # a sum of 9 window terms, each of norm <= 1
    assert eig.max() > 1  # not trivially small
    ones = torch.ones(1, 3, 7, 9, dtype=torch.float64)
    assert laplacian_apply(lap, ones).abs().max() < 1e-10
    # Each output channel an affine map of the content's colours: L v ~ 0 (up to the
    # ridge eps, which shrinks the fit by eps / variance ~ 1e-6 here).
    A = torch.tensor([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3], [-2.0, 0.0, 1.0]], dtype=torch.float64)
    affine = torch.einsum("ij,bjhw->bihw", A, content) + torch.tensor([0.3, -0.1, 2.0]).reshape(
        1, 3, 1, 1
    )
    assert laplacian_apply(lap, affine).abs().max() < 1e-5
    noise = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert laplacian_apply(lap, noise).abs().max() > 0.1


def test_cost_value_and_gradcheck():
    content = _random_image(7, 9, 7)
    L = explicit_laplacian(content)
    lap = matting_laplacian(content, dtype=torch.float64)
    out = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    o = out[0].flatten(1).numpy()
    want = sum(float(o[c] @ (L @ o[c])) for c in range(3))
    cost = photoreal_cost(lap, out)
    assert cost.dtype == torch.float64
    assert float(cost) == pytest.approx(want / 63, rel=1e-10)
    assert float(cost) > 1e-3
    out.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda o: photoreal_cost(lap, o), (out,))
    assert torch.autograd.gradcheck(lambda o: laplacian_apply(lap, o), (out,))
    (grad,) = torch.autograd.grad(photoreal_cost(lap, out), out)
    want_grad = np.stack([L @ out[0, c].detach().flatten().numpy() for c in range(3)]) * 2 / 63
    np.testing.assert_allclose(grad[0].reshape(3, -1).numpy(), want_grad, rtol=1e-8, atol=1e-12)


def test_cost_is_zero_on_the_content_and_small_on_its_affine_recolouring():
    content = _random_image(10, 11, 9)
    lap = matting_laplacian(content, dtype=torch.float64)
    assert float(photoreal_cost(lap, content)) < 1e-6  # the ridge eps shrinks the fit
    recoloured = 0.2 + 0.6 * content.flip(1)  # channels swapped and scaled: still affine
    noisy = recoloured + 0.05 * torch.rand(1, 3, 10, 11, generator=torch.Generator().manual_seed(1))
    assert float(photoreal_cost(lap, recoloured)) < 1e-6
    assert float(photoreal_cost(lap, noisy)) > 1e-5


def test_tiles_split_the_cost_and_gradient_exactly():
    H, W = 12, 10
    content = _random_image(H, W, 11)
    lap = matting_laplacian(content, dtype=torch.float64)
    out = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    out.requires_grad_(True)
    whole = photoreal_cost(lap, out)
    (g_whole,) = torch.autograd.grad(whole, out)
    total, g_tiles = torch.zeros((), dtype=torch.float64), torch.zeros_like(out)
    for rows in ((0, 1), (1, 7), (7, 12)):  # uneven, one a single row at the border
        for cols in ((0, 4), (4, 10)):
            sub, (rs, cs) = lap.for_tile(rows, cols)
            x = out.detach()[..., rs, cs].requires_grad_(True)
            cost = photoreal_cost(sub, x, n_pixels=H * W)
            (g,) = torch.autograd.grad(cost, x)
            total = total + cost.detach()
            g_tiles[..., rs, cs] += g
    assert float(total) == pytest.approx(float(whole.detach()), rel=1e-12)
    torch.testing.assert_close(g_tiles, g_whole, rtol=1e-10, atol=1e-14)


def test_crop_equals_the_laplacian_of_the_cropped_content():
    content = _random_image(12, 10, 13)
    crop = matting_laplacian(content, dtype=torch.float64).crop(2, 3, 6, 5)
    direct = matting_laplacian(content[..., 2:8, 3:8], dtype=torch.float64)
    v = torch.rand(1, 2, 6, 5, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    torch.testing.assert_close(laplacian_apply(crop, v), laplacian_apply(direct, v))
    tiny = matting_laplacian(content, dtype=torch.float64).crop(0, 0, 2, 5)  # no window
    assert float(laplacian_apply(tiny, torch.ones(1, 1, 2, 5)).abs().max()) == 0
    with pytest.raises(ValueError, match="not inside"):
        matting_laplacian(content).crop(8, 0, 6, 5)


def test_bands_give_the_same_laplacian_and_product(monkeypatch):
    from gramstyle.nn import matting

    content = _random_image(23, 11, 17)
    v = torch.rand(1, 2, 23, 11, generator=torch.Generator().manual_seed(18), dtype=torch.float64)
    whole = matting_laplacian(content, dtype=torch.float64)
    want = laplacian_apply(whole, v)
    monkeypatch.setattr(matting, "BAND_PIXELS", 40)  # bands of 3 to 4 rows
    banded = matting_laplacian(content, dtype=torch.float64)
    torch.testing.assert_close(banded.inv, whole.inv, rtol=0, atol=0)
    torch.testing.assert_close(banded.mean, whole.mean, rtol=0, atol=0)
    torch.testing.assert_close(laplacian_apply(banded, v), want, rtol=1e-12, atol=1e-12)


def test_float32_default_is_close_to_float64():
    content = _random_image(20, 24, 15)
    lap32, lap64 = (
        matting_laplacian(content.float()),
        matting_laplacian(content, dtype=torch.float64),
    )
    assert lap32.inv.dtype == torch.float32
    out = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(16))
    c32, c64 = photoreal_cost(lap32, out), photoreal_cost(lap64, out.double())
    assert c32.dtype == torch.float32
    assert float(c32) == pytest.approx(float(c64), rel=1e-4)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="3x3 windows"):
        matting_laplacian(torch.rand(1, 3, 2, 9))
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        matting_laplacian(torch.rand(3, 5, 5))
    lap = matting_laplacian(torch.rand(1, 3, 5, 5))
    with pytest.raises(ValueError, match="expected v"):
        laplacian_apply(lap, torch.rand(1, 3, 5, 6))
