"""Costs against naive loop references written from MATH.md, in float64."""

from __future__ import annotations

import pytest
import torch

from gramstyle import content_cost, gram_matrix, layer_style_cost, style_cost, total_cost, tv_cost
from gramstyle.nn.losses import normalized_gram, style_matrix_cost


def naive_gram(a):  # a: (nC, nH, nW)
    n_C, n_H, n_W = a.shape
    G = torch.zeros(n_C, n_C, dtype=torch.float64)
    for k in range(n_C):
        for k2 in range(n_C):
            s = 0.0
            for i in range(n_H):
                for j in range(n_W):
                    s += float(a[k, i, j]) * float(a[k2, i, j])
            G[k, k2] = s
    return G


def naive_layer_style_cost(a_S, a_G):
    n_C, n_H, n_W = a_G.shape
    GS, GG = naive_gram(a_S), naive_gram(a_G)
    s = 0.0
    for k in range(n_C):
        for k2 in range(n_C):
            s += float(GS[k, k2] - GG[k, k2]) ** 2
    return s / (2 * n_H * n_W * n_C) ** 2


def naive_content_cost(a_C, a_G):
    n_C, n_H, n_W = a_G.shape
    s = 0.0
    for k in range(n_C):
        for i in range(n_H):
            for j in range(n_W):
                s += float(a_C[k, i, j] - a_G[k, i, j]) ** 2
    return s / (4 * n_H * n_W * n_C)


def rel(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-300)


@pytest.fixture
def acts():
    g = torch.Generator().manual_seed(0)
    # Non-negative like ReLU outputs; non-square to catch transposed axes.
    a_S = torch.rand(1, 5, 4, 3, generator=g, dtype=torch.float64)
    a_G = torch.rand(1, 5, 4, 3, generator=g, dtype=torch.float64)
    return a_S, a_G


def test_gram_matches_triple_loop(acts):
    a, _ = acts
    G = gram_matrix(a.double())
    assert G.shape == (1, 5, 5)
    ref = naive_gram(a[0])
    assert (G[0].double() - ref).abs().max() / ref.abs().max() < 1e-6


def test_gram_unbatched_shape_symmetry_and_scale(acts):
    a, _ = acts
    G = gram_matrix(a[0])
    assert G.shape == (5, 5)
    assert torch.allclose(G, G.T)
    # Unnormalised: doubling activations quadruples G; eigenvalues >= 0 (PSD).
    assert torch.allclose(gram_matrix(2 * a[0]), 4 * G)
    assert torch.linalg.eigvalsh(G.double()).min() > -1e-9


def test_layer_style_cost_matches_loop(acts):
    a_S, a_G = acts
    got = layer_style_cost(a_S, a_G)
    assert rel(got, naive_layer_style_cost(a_S[0], a_G[0])) < 1e-6
    assert float(layer_style_cost(a_S, a_S)) == 0.0


def test_content_cost_matches_loop(acts):
    a_C, a_G = acts
    assert rel(content_cost(a_C, a_G), naive_content_cost(a_C[0], a_G[0])) < 1e-6


def test_style_cost_weights_layers(acts):
    a_S, a_G = acts
    b_S, b_G = a_S[:, :3, :2] * 3, a_G[:, :3, :2]
    S = {"relu1_1": a_S, "relu2_1": b_S}
    G = {"relu1_1": a_G, "relu2_1": b_G}
    w = {"relu1_1": 0.3, "relu2_1": 0.7}
    want = 0.3 * naive_layer_style_cost(a_S[0], a_G[0]) + 0.7 * naive_layer_style_cost(
        b_S[0], b_G[0]
    )
    assert rel(style_cost(S, G, w), want) < 1e-6


def test_total_cost_and_tv():
    J = total_cost(torch.tensor(2.0), torch.tensor(3.0), alpha=10, beta=40)
    assert float(J) == 10 * 2 + 40 * 3
    x = torch.zeros(1, 3, 4, 4)
    assert float(tv_cost(x)) == 0.0
    x[..., 2:] = 1.0  # one vertical edge: 4 rows x 3 channels of squared jump 1
    assert float(tv_cost(x)) == pytest.approx(12 / 16)
    assert float(total_cost(J * 0, J * 0, 1, 1, tv_cost(x), 2.0)) == pytest.approx(1.5)


def test_style_size_mismatch_rescales_target():
    # Same texture at two sizes: per-position Grams agree, so the cost is ~0 (the named
    # deviation); the unnormalised G would differ by the area ratio.
    a = torch.rand(1, 4, 6, 6, dtype=torch.float64)
    big = a.repeat(1, 1, 2, 2)
    assert float(style_matrix_cost(normalized_gram(big), a)) < 1e-12
    assert torch.allclose(gram_matrix(big), 4 * gram_matrix(a))


@pytest.mark.parametrize("fn", [content_cost, layer_style_cost])
def test_gradcheck(fn, acts):
    a_S, a_G = acts
    a_G = a_G.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda g: fn(a_S, g), (a_G,))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_gradcheck(acts, layout):
    a = acts[0].contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (a,))
    assert torch.autograd.gradcheck(gram_matrix, (a[0].detach().clone().requires_grad_(True),))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_gradient_is_laid_out_like_the_activation(layout):
    # dJ/da by hand: J = sum (G - T)^2 gives 2 (dG + dG^T) a with dG = 2 (G - T).
    x = torch.rand(2, 4, 5, 6, dtype=torch.float64).contiguous(memory_format=layout)
    T = torch.rand(2, 4, 4, dtype=torch.float64)
    x.requires_grad_(True)
    a = x * 1  # an activation inside the network, not a leaf
    seen = []
    a.register_hook(seen.append)
    ((gram_matrix(a) - T) ** 2).sum().backward()
    f = a.detach().flatten(-2)
    dG = 2 * (f @ f.transpose(-1, -2) - T)
    expected = ((dG + dG.transpose(-1, -2)) @ f).view(2, 4, 5, 6)
    torch.testing.assert_close(seen[0], expected)
    # The same layout as a: no strided add where it meets the next layer's gradient.
    assert seen[0].is_contiguous(memory_format=layout)


@pytest.mark.parametrize("bad", [torch.rand(3, 3), torch.rand(1, 1, 2, 2, 2)])
def test_bad_shapes_raise(bad):
    with pytest.raises(ValueError, match="nC"):
        gram_matrix(bad)


def test_content_cost_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        content_cost(torch.rand(1, 2, 3, 3), torch.rand(1, 2, 3, 4))
