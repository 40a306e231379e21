"""Flow, warping, reliability masks, temporal cost and warping error, against known flows."""

from __future__ import annotations

import pytest
import torch

from gramstyle.video.flow import (
    disoccluded,
    inside,
    long_term_masks,
    motion_boundary,
    reliable,
    warp,
)
from gramstyle.video.synthetic import Motion, render
from gramstyle.video.temporal import (
    Anchor,
    TemporalCost,
    WarpingError,
    blend_towards,
    fill,
    warping_error,
)


def texture(h: int = 72, w: int = 96, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 6, w // 6, generator=g)
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic").clamp(0, 1)


def const_flow(dx: float, dy: float, h: int = 20, w: int = 30) -> torch.Tensor:
    f = torch.empty(1, 2, h, w)
    f[:, 0], f[:, 1] = dx, dy
    return f


def test_warp_moves_whole_pixels_exactly():
    x = torch.rand(1, 3, 20, 30)
    y = warp(x, const_flow(2, -1))  # y(p) = x(p + (2, -1))
    assert torch.allclose(y[..., 1:, :-2], x[..., :-1, 2:], atol=1e-5)  # float32 grid rounding
    assert torch.allclose(warp(x, const_flow(0, 0)), x, atol=1e-5)


def test_warp_interpolates_bilinearly():
    x = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 3, 10).contiguous()
    y = warp(x, const_flow(0.25, 0, 3, 10))
    assert torch.allclose(y[..., :-1], x[..., :-1] + 0.25, atol=1e-5)


def test_warp_rejects_mismatched_flow():
    with pytest.raises(ValueError):
        warp(torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 8, 9))


def test_inside_marks_pixels_that_warp_from_outside():
    m = inside(const_flow(2, 0, 4, 6))
    assert m[0, 0].tolist() == [[1, 1, 1, 1, 0, 0]] * 4


def test_forward_backward_consistency():
    fw, bw = const_flow(2, 1), const_flow(-2, -1)
    assert disoccluded(fw, bw).sum() == 0  # a translation returns home everywhere
    c = reliable(fw, bw)
    assert torch.equal(c, inside(fw))
    # A backward flow that disagrees by more than the tolerance marks pixels occluded.
    assert disoccluded(fw, const_flow(0, 0)).mean() == 1
    # Small disagreement (0.5 px) is inside the tolerance 0.01 (|w|^2 + |w~|^2) + 0.5.
    assert disoccluded(fw, const_flow(-1.5, -1)).sum() == 0


def test_motion_boundary_marks_a_flow_edge_only():
    f = torch.zeros(1, 2, 10, 10)
    f[:, 0, :, 5:] = 3.0  # the right half moves 3 px
    mb = motion_boundary(f)[0, 0]
    assert mb[:, 4:6].all() and mb[:, :4].sum() == 0 and mb[:, 6:].sum() == 0
    # A smooth zoom is no boundary.
    assert motion_boundary(Motion("zoom", (40, 60), 2).flow(0)).sum() == 0


def test_long_term_masks_tie_each_pixel_to_the_nearest_visible_frame():
    c1 = torch.tensor([1.0, 0, 0, 1])
    c2 = torch.tensor([1.0, 1, 0, 0])
    c4 = torch.tensor([1.0, 1, 1, 0])
    out = long_term_masks([c1, c2, c4])
    assert [o.tolist() for o in out] == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]


@pytest.mark.parametrize("kind", ["pan", "zoom"])
def test_known_flow_warps_the_synthetic_clip(kind):
    m = Motion(kind, (48, 64), 4)
    frames = render(texture(), m)
    e = warping_error(frames[1], frames[2], m.flow(1), m.mask(1))
    assert e == pytest.approx(0, abs=1e-10 if kind == "pan" else 2e-3)
    # ...and a wrong flow does not.
    assert warping_error(frames[1], frames[2], 0 * m.flow(1), m.mask(1)) > 10 * max(e, 1e-4)


@pytest.mark.parametrize("kind", ["pan", "zoom"])
def test_dis_flow_recovers_the_known_flow(kind):
    pytest.importorskip("cv2")
    from gramstyle.video.flow import dis_flow

    m = Motion(kind, (72, 96), 3)
    a, b = render(texture(), m)[:2]
    est = dis_flow(a, b)
    inner = (est - m.flow(0))[..., 8:-8, 8:-8]
    assert float(inner.norm(dim=1).mean()) < 0.3  # pixels
    back = dis_flow(b, a)
    c = reliable(est, back)
    assert 0.85 < float(c.mean()) <= float(m.mask(0).mean()) + 0.02


def test_temporal_cost_is_the_weighted_masked_mean():
    x = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    w1, w2 = torch.rand_like(x), torch.rand_like(x)
    c1 = (torch.rand(1, 1, 5, 6) > 0.5).double()
    c2 = 1 - c1
    cost = TemporalCost([Anchor(1, w1, c1), Anchor(2, w2, c2)], weight=3.0)
    got = cost(x)["temporal"]
    by_hand = 0.0
    for wk, ck in ((w1, c1), (w2, c2)):
        for ch in range(3):
            for i in range(5):
                for j in range(6):
                    by_hand += float(ck[0, 0, i, j] * (x[0, ch, i, j] - wk[0, ch, i, j]) ** 2)
    assert float(got) == pytest.approx(3.0 * by_hand / (3 * 5 * 6))
    xg = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: cost(t)["temporal"], (xg,))
    # Another size (a coarse pyramid stage) is not tied.
    assert float(cost(torch.rand(1, 3, 3, 3))["temporal"]) == 0


def test_fill_takes_reliable_pixels_from_the_nearest_frame_and_the_rest_from_content():
    C = torch.zeros(1, 3, 2, 2)
    a1 = Anchor(1, torch.full((1, 3, 2, 2), 0.25), torch.tensor([[[[1.0, 0], [0, 0]]]]))
    a2 = Anchor(2, torch.full((1, 3, 2, 2), 0.75), torch.tensor([[[[0.0, 1], [0, 0]]]]))
    out = fill([a1, a2], C)
    assert out[0, 0].tolist() == [[0.25, 0.75], [0.0, 0.0]]


def test_blend_towards_minimises_the_same_cost():
    a = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    w = torch.rand_like(a)
    c = (torch.rand(1, 1, 4, 4) > 0.3).double()
    W = 4.0
    out = blend_towards(a, [Anchor(1, w, c)], W)
    x = out.clone().requires_grad_(True)
    J = ((x - a) ** 2).sum() + W * (c * (x - w) ** 2).sum()
    J.backward()
    assert x.grad.abs().max() < 1e-9
    assert torch.equal(out[c.expand_as(a) == 0], a[c.expand_as(a) == 0])


def test_warping_error_by_hand():
    o1 = torch.zeros(1, 3, 4, 4)
    o2 = torch.full((1, 3, 4, 4), 0.1)
    m = torch.ones(1, 1, 4, 4)
    m[..., 0, 0] = 0
    assert warping_error(o1, o2, torch.zeros(1, 2, 4, 4), m) == pytest.approx(3 * 0.01)
    acc = WarpingError()
    acc.add(o1, o2, torch.zeros(1, 2, 4, 4), m)
    acc.add(o1, o1, torch.zeros(1, 2, 4, 4), m)
    assert acc.value == pytest.approx(0.015) and acc.pairs == 2
