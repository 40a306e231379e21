"""Creative controls, each measured: style blend, style scale, masks, strength, layer weights."""

from __future__ import annotations

import pytest
import torch

from gramstyle import GramstyleError, Settings, stylize, stylize_iter
from gramstyle.gatys.objective import Objective
from gramstyle.nn.losses import content_cost, layer_style_cost, normalized_gram, style_matrix_cost
from gramstyle.nn.masks import load_masks, mask_at, masked_gram, masked_style_cost
from gramstyle.request import blend_weights
from gramstyle.settings import LECTURE_STYLE_LAYERS

from . import conftest

# The thresholds below were set with the lecture's layers.
FAST = {**conftest.FAST, "style_layers": LECTURE_STYLE_LAYERS}
ONE_SCALE = dict(size=48, min_size=48, steps=30, style_weight=1e3)


@pytest.fixture
def two_styles(images):
    """Horizontal green stripes and a red checkerboard: far apart in every Gram matrix."""
    _, s1 = images
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    check = (((yy // 5) + (xx // 5)) % 2).float()
    s2 = torch.stack([0.2 + 0.7 * check, 0.1 * check, 0.1 + 0.0 * check]).unsqueeze(0)
    return s1, s2


def style_distance(net, x, style, layers=None, mask=None) -> float:
    """Sum over style layers of J_style[l] between ``x`` (optionally a region) and ``style``."""
    layers = list(layers or Settings().style_layers)
    a_x, a_s = net(x, layers), net(style, layers)
    total = 0.0
    for n in layers:
        if mask is None:
            total += float(layer_style_cost(a_s[n], a_x[n]))
        else:
            m = mask_at(mask, tuple(a_x[n].shape[-2:]))
            total += float(masked_style_cost(normalized_gram(a_s[n]), a_x[n], m) / m.mean())
    return total


# --- several styles -------------------------------------------------------------------


def test_blend_weights_are_checked_and_normalised():
    assert blend_weights(None, 2) is None
    assert blend_weights([1, 1, 2], 3) == [0.25, 0.25, 0.5]
    for bad, msg in [([1], "1 blend weights for 2"), ([1, -1], "not negative"), ([0, 0], "zero")]:
        with pytest.raises(GramstyleError, match=msg):
            blend_weights(bad, 2)
    with pytest.raises(GramstyleError, match="finite"):
        blend_weights([float("nan"), 1], 2)


def test_blend_extremes_pick_their_style(tiny_net, images, two_styles):
    content, _ = images
    s1, s2 = two_styles
    only1 = stylize(content, [s1, s2], backbone=tiny_net, blend=[1, 0], **FAST)
    only2 = stylize(content, [s1, s2], backbone=tiny_net, blend=[0, 1], **FAST)
    d = {
        (o, s): style_distance(tiny_net, out, st)
        for o, out in (("1,0", only1), ("0,1", only2))
        for s, st in (("S1", s1), ("S2", s2))
    }
    assert d["1,0", "S1"] < 0.5 * d["0,1", "S1"]
    assert d["0,1", "S2"] < 0.5 * d["1,0", "S2"]
    # Weights are normalised: 5,0 is the same run as 1,0.
    assert torch.equal(only1, stylize(content, [s1, s2], backbone=tiny_net, blend=[5, 0], **FAST))


# --- style scale ------------------------------------------------------------------------


def test_costs_are_per_position():
    """A texture and the same texture tiled 2x2 (4x the positions) cost nothing to each
    other, and a content difference tiled 2x2 costs the same: the costs are per position,
    so weights do not depend on the image size."""
    g = torch.Generator().manual_seed(0)
    a_S = torch.rand(1, 8, 6, 10, generator=g)
    a_big = a_S.repeat(1, 1, 2, 2)  # (1, 8, 12, 20)
    assert float(layer_style_cost(a_S, a_big)) == pytest.approx(0.0, abs=1e-10)
    a_G = torch.rand(1, 8, 6, 10, generator=g)
    small, big = content_cost(a_S, a_G), content_cost(a_big, a_G.repeat(1, 1, 2, 2))
    assert float(big) == pytest.approx(float(small), rel=1e-5)
    other = torch.rand(1, 8, 6, 10, generator=g)
    assert float(layer_style_cost(a_S, other)) == pytest.approx(
        float(layer_style_cost(a_big, other.repeat(1, 1, 2, 2))), rel=1e-5
    )


@pytest.fixture
def seen(monkeypatch) -> list[tuple[int, int]]:
    """The (H, W) of every style image the network computes targets for, in order."""
    from gramstyle.gatys import targets

    sizes: list[tuple[int, int]] = []
    real = targets.one_pass_targets

    def spy(net, image, layers, dtype=None):
        sizes.append(tuple(image.shape[-2:]))
        return real(net, image, layers, dtype)

    monkeypatch.setattr(targets, "one_pass_targets", spy)
    return sizes


def test_style_scale_changes_what_the_network_sees(tiny_net, images, seen):
    content, style = images
    list(stylize_iter(content, style, backbone=tiny_net, style_scale=2.0, **FAST))
    assert seen == [(36, 48), (72, 96)]  # twice the output's longest side, at each scale
    seen.clear()
    list(stylize_iter(content, style, backbone=tiny_net, style_size=64, **FAST))
    assert seen == [(24, 32), (48, 64)]
    with pytest.raises(GramstyleError, match="not both"):
        Settings(style_size=40, style_scale=2.0)
    with pytest.raises(GramstyleError, match="too small"):
        list(stylize_iter(content, style, backbone=tiny_net, style_scale=0.3, **FAST))


def test_style_fit_area_shows_each_style_at_the_outputs_pixel_count(tiny_net, images, seen):
    content, _ = images
    wide = torch.rand(1, 3, 60, 180, generator=torch.Generator().manual_seed(1))  # 3:1
    big = {**FAST, "size": 96, "min_size": 48}  # outputs (36, 48) and (72, 96)
    list(stylize_iter(content, wide, backbone=tiny_net, style_fit="area", **big))
    # A 3:1 style with the output's pixel count: sqrt(3 / (4/3)) = 1.5 times its long side.
    assert seen == [(24, 72), (48, 144)]
    assert [h * w for h, w in seen] == [36 * 48, 72 * 96]
    seen.clear()  # a square photo: the same style is shown at another size, not the cached one
    h = min(content.shape[-2:])
    list(stylize_iter(content[..., :h, :h], wide, backbone=tiny_net, style_fit="area", **big))
    assert seen == [(28, 83), (55, 166)]  # 48 * sqrt(3) = 83: 2324 px for 48 x 48 = 2304
    with pytest.raises(GramstyleError, match="not both"):
        Settings(style_size=40, style_fit="area")
    with pytest.raises(GramstyleError, match="style fit must be one of side, area"):
        Settings(style_fit="pixels")


# --- masks ------------------------------------------------------------------------------


def test_masked_gram_matches_a_naive_reference():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 4, 5, generator=g, dtype=torch.float64)
    m = torch.rand(2, 1, 4, 5, generator=g, dtype=torch.float64)
    ref = torch.zeros(2, 3, 3, dtype=torch.float64)
    for k in range(2):
        for i in range(4):
            for j in range(5):
                v = a[0, :, i, j]
                ref[k] += m[k, 0, i, j] * torch.outer(v, v)
        ref[k] /= m[k].sum()
    assert torch.allclose(masked_gram(a, m), ref)
    ones = torch.ones(1, 1, 4, 5, dtype=torch.float64)
    assert torch.allclose(masked_gram(a, ones), normalized_gram(a))
    target = normalized_gram(torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64))
    assert float(masked_style_cost(target, a, ones)) == pytest.approx(
        float(style_matrix_cost(target, a))
    )
    torch.autograd.gradcheck(lambda x: masked_style_cost(target, x, m[:1]), a.requires_grad_())


def test_one_white_mask_is_the_unmasked_objective(tiny_net, images):
    content, style = images
    s = Settings(**FAST)
    plain = Objective(tiny_net, s, content, [style])
    masked = Objective(tiny_net, s, content, [style], masks=torch.ones(1, 1, 36, 48))
    G = torch.rand_like(content)
    assert float(masked(G).total) == pytest.approx(float(plain(G).total), rel=1e-5)


def test_load_masks_notes_and_errors():
    half = torch.zeros(36, 48)
    half[:, :24] = 1
    masks, notes = load_masks([half, 1 - half], (36, 48), 2)
    assert masks.shape == (2, 1, 36, 48) and notes == []
    masks, notes = load_masks([torch.ones(10, 10) * 0.3], (36, 48), 1)
    assert masks.shape == (1, 1, 36, 48) and torch.allclose(masks, torch.tensor(0.3))  # soft
    assert notes == [
        "mask 1 is 10x10, the output 48x36: stretched to fit (its aspect ratio differs)"
    ]
    _, notes = load_masks([half], (36, 48), 1)
    assert notes == ["50% of the output is in no mask and gets no style"]
    with pytest.raises(GramstyleError, match="1 mask for 2 styles"):
        load_masks([half], (36, 48), 2)
    with pytest.raises(GramstyleError, match="mask 2 is empty"):
        load_masks([half, torch.zeros(36, 48)], (36, 48), 2)


def test_each_region_gets_its_style(tiny_net, images, two_styles):
    content, _ = images
    s1, s2 = two_styles
    left = torch.zeros(1, 1, 36, 48)
    left[..., :24] = 1
    out = stylize(content, [s1, s2], backbone=tiny_net, masks=[left, 1 - left], **ONE_SCALE)
    # Judge each region away from the seam (a quarter of the width on each side).
    inner_left, inner_right = torch.zeros_like(left), torch.zeros_like(left)
    inner_left[..., :12], inner_right[..., 36:] = 1, 1
    layers = ["relu1_1", "relu2_1", "relu3_1"]  # deeper ones see across the seam
    d_l1 = style_distance(tiny_net, out, s1, layers, inner_left)
    d_l2 = style_distance(tiny_net, out, s2, layers, inner_left)
    d_r1 = style_distance(tiny_net, out, s1, layers, inner_right)
    d_r2 = style_distance(tiny_net, out, s2, layers, inner_right)
    assert d_l1 < 0.5 * d_l2 and d_r2 < 0.5 * d_r1
    with pytest.raises(GramstyleError, match="not both"):
        next(stylize_iter(content, [s1, s2], backbone=tiny_net, blend=[1, 1], masks=[left, left]))


def test_mask_notes_reach_the_records(tiny_net, images):
    content, style = images
    rec = next(stylize_iter(content, style, backbone=tiny_net, masks=[torch.ones(9, 9)], **FAST))
    assert rec.notes == (
        "mask 1 is 9x9, the output 48x36: stretched to fit (its aspect ratio differs)",
    )
    rec = next(stylize_iter(content, style, backbone=tiny_net, masks=[torch.ones(9, 12)], **FAST))
    assert rec.notes == ()  # same aspect: resized silently


# --- strength and per-layer content weights ---------------------------------------------


def test_strength_maps_onto_beta_through_its_knots():
    from gramstyle.settings import DEFAULT_STRENGTH, STRENGTH_KNOTS

    for k, decades in STRENGTH_KNOTS:
        assert Settings(style_weight=1e3, strength=k).beta == pytest.approx(1e3 * 10**decades)
    assert Settings().strength == DEFAULT_STRENGTH
    assert Settings(style_weight=1e3).beta == 1e3  # the default keeps the weight as given
    assert Settings(style_weight=1e3, strength=0.0).beta == pytest.approx(1.0)  # 1/1000
    assert Settings(style_weight=1e3, strength=1.0).beta == pytest.approx(1e3 * 10**1.5)
    # monotone, log-linear between the knots
    betas = [Settings(strength=i / 40).beta for i in range(41)]
    assert all(a < b for a, b in zip(betas, betas[1:], strict=False))
    between = Settings(style_weight=1e3, strength=0.21).beta  # halfway from 0 to 0.42
    assert between == pytest.approx(1e3 * 10**-2.5)
    with pytest.raises(GramstyleError, match="strength"):
        Settings(strength=1.5)


def test_strength_trades_content_for_style(tiny_net, images):
    content, style = images
    weak = stylize(content, style, backbone=tiny_net, strength=0.1, **{**FAST, "init": "content"})
    strong = stylize(content, style, backbone=tiny_net, strength=0.9, **{**FAST, "init": "content"})
    assert style_distance(tiny_net, strong, style) < 0.5 * style_distance(tiny_net, weak, style)
    a_C = tiny_net(content, ["relu4_2"])["relu4_2"]
    cost = {
        k: float(content_cost(a_C, tiny_net(x, ["relu4_2"])["relu4_2"]))
        for k, x in (("weak", weak), ("strong", strong))
    }
    assert cost["weak"] < cost["strong"]


def test_per_layer_content_weights_act(tiny_net, images):
    content, style = images
    a_C = tiny_net(content, ["relu2_1"])["relu2_1"]
    cost = {}
    for w in (0.0, 20.0):
        out = stylize(
            content,
            style,
            backbone=tiny_net,
            content_layers={"relu4_2": 1.0, "relu2_1": w},
            **FAST,
        )
        cost[w] = float(content_cost(a_C, tiny_net(out, ["relu2_1"])["relu2_1"]))
    assert cost[20.0] < 0.5 * cost[0.0]
    # And the record's content cost is the weighted sum over the layers.
    s = Settings(**FAST, content_layers={"relu4_2": 1.0, "relu2_1": 0.5})
    G = torch.rand_like(content)
    a = tiny_net(G, ["relu4_2", "relu2_1"])
    ref = {n: tiny_net(content, [n])[n] for n in ("relu4_2", "relu2_1")}
    expected = content_cost(ref["relu4_2"], a["relu4_2"]) + 0.5 * content_cost(
        ref["relu2_1"], a["relu2_1"]
    )
    got = Objective(tiny_net, s, content, [style])(G).content
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_init_content_from_a_pil_image_single_scale(tiny_net, images):
    """Regression: a PIL content used as the start image gave L-BFGS non-contiguous grads."""
    from gramstyle.image import tensor_to_pil

    content, style = images
    out = stylize(tensor_to_pil(content), style, backbone=tiny_net, init="content", **ONE_SCALE)
    assert out.size == (48, 36)
