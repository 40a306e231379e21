"""End to end on the tiny random network: the cost falls, seeds reproduce, shapes hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gramstyle import GramstyleError, Settings, stylize, stylize_iter
from gramstyle.gatys.objective import Objective
from gramstyle.nn.losses import content_cost, layer_style_cost

from .conftest import FAST


def test_cost_falls_and_records(tiny_net, images):
    content, style = images
    recs = list(stylize_iter(content, style, backbone=tiny_net, **FAST))
    assert [r.scale for r in recs] == [0] * 10 + [1] * 15
    assert recs[-1].done == recs[-1].total == 25
    assert recs[0].size == (18, 24) and recs[-1].size == (36, 48)
    first_fine = recs[10]
    assert recs[-1].loss < 0.5 * first_fine.loss
    assert recs[9].loss < 0.5 * recs[0].loss
    r = recs[-1]
    assert set(r.style) == set(Settings().style_layers)
    assert r.loss == pytest.approx(r.content + sum(r.style.values()) + r.tv, rel=1e-4)
    assert r.elapsed > 0 and r.precision == "fp32"


def test_record_costs_match_library_functions(tiny_net, images):
    content, style = images
    s = Settings(**FAST)
    obj = Objective(tiny_net, s, content, [style])
    G = torch.rand_like(content)
    costs = obj(G)
    a_C = tiny_net(content, ["relu4_2"])["relu4_2"]
    a = tiny_net(G, list(s.style_layers) + ["relu4_2"])
    a_S = tiny_net(style, list(s.style_layers))
    assert float(costs.content) == pytest.approx(float(content_cost(a_C, a["relu4_2"])), rel=1e-5)
    for n, lam in s.style_layers.items():
        assert float(costs.style[n]) == pytest.approx(
            lam * float(layer_style_cost(a_S[n], a[n])), rel=1e-4
        )


def test_seed_reproduces_bit_for_bit(tiny_net, images):
    content, style = images
    a = stylize(content, style, backbone=tiny_net, seed=3, **FAST)
    b = stylize(content, style, backbone=tiny_net, seed=3, **FAST)
    c = stylize(content, style, backbone=tiny_net, seed=4, **FAST)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_output_contract_and_aspect(tiny_net, images):
    content, style = images
    out = stylize(content, style, backbone=tiny_net, **FAST)
    assert out.shape == (1, 3, 36, 48)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    pil = stylize(_to_pil(content), _to_pil(style), backbone=tiny_net, **FAST)
    assert pil.size == (48, 36)


@pytest.mark.parametrize("init", ["noise", "content", "blend"])
def test_inits_and_adam(tiny_net, images, init):
    content, style = images
    recs = list(
        stylize_iter(content, style, backbone=tiny_net, optimizer="adam", **{**FAST, "init": init})
    )
    assert recs[-1].loss < recs[10].loss


def test_init_content_starts_at_zero_content_cost(tiny_net, images):
    content, style = images
    rec = next(
        iter(
            stylize_iter(
                content, style, backbone=tiny_net, **{**FAST, "min_size": 48, "init": "content"}
            )
        )
    )
    assert rec.content == pytest.approx(0.0, abs=1e-6)


def test_init_from_file(tiny_net, images, tmp_path):
    from gramstyle import save_image

    content, style = images
    save_image(torch.full((1, 3, 6, 8), 0.25), tmp_path / "init.png")
    rec = next(
        iter(
            stylize_iter(
                content, style, backbone=tiny_net, **{**FAST, "init": str(tmp_path / "init.png")}
            )
        )
    )
    assert rec.loss > 0
    with pytest.raises(GramstyleError, match="init must be"):
        next(iter(stylize_iter(content, style, backbone=tiny_net, **{**FAST, "init": "perlin"})))


def test_bad_settings(tiny_net, images):
    content, style = images
    with pytest.raises(GramstyleError, match="did you mean 'relu3_1'"):
        next(
            iter(
                stylize_iter(
                    content, style, backbone=tiny_net, style_layers={"relu3-1": 1.0}, **FAST
                )
            )
        )
    with pytest.raises(GramstyleError, match="size must be"):
        Settings(size=3)


def test_bf16_runs_and_reports(tiny_net, images):
    content, style = images
    recs = list(stylize_iter(content, style, backbone=tiny_net, **{**FAST, "precision": "bf16"}))
    assert recs[-1].precision == "bf16" and recs[-1].loss < recs[10].loss


def _to_pil(x):
    from gramstyle.image import tensor_to_pil

    return tensor_to_pil(x)


def test_too_small_for_layers(tiny_net, images):
    content, style = images
    deep = {"relu1_1": 1.0, "relu5_1": 1.0}  # relu5_1 needs a short side of 16 px
    with pytest.raises(GramstyleError, match="too small"):
        next(
            iter(
                stylize_iter(
                    content, style, backbone=tiny_net, size=16, min_size=16, style_layers=deep
                )
            )
        )
    # The pyramid skips a coarse scale the deepest layer cannot see.
    recs = list(
        stylize_iter(
            content,
            style,
            backbone=tiny_net,
            **{**FAST, "size": 32, "min_size": 16, "style_layers": deep},
        )
    )
    assert {r.scales for r in recs} == {1} and recs[0].size == (24, 32)


def test_init_content_single_scale_from_pil(tiny_net, images):
    # A PIL content at its own size is not resized: L-BFGS must still get a contiguous x.
    content, style = images
    out = stylize(
        _to_pil(content), style, backbone=tiny_net, **{**FAST, "min_size": 48, "init": "content"}
    )
    assert out.size == (48, 36)


def test_non_finite_reduced_precision_falls_back_to_fp32(images):
    # A network that overflows whenever autocast is on (as fp16 can): the scale is
    # redone in float32 instead of writing garbage.
    from .conftest import tiny_vgg

    net = tiny_vgg()
    forward = net.forward

    def overflowing(x, names):
        out = forward(x, names)
        if torch.is_autocast_enabled("cpu"):
            out = {k: v * float("inf") for k, v in out.items()}
        return out

    net.forward = overflowing  # type: ignore[method-assign]
    content, style = images
    recs = list(stylize_iter(content, style, backbone=net, **{**FAST, "precision": "bf16"}))
    assert {r.precision for r in recs} == {"fp32"}
    assert len(recs) == 25 and all(np.isfinite(r.loss) for r in recs)
    assert torch.isfinite(recs[-1].image).all()
    with pytest.raises(GramstyleError, match="content weight must be a finite number"):
        list(stylize_iter(content, style, backbone=net, content_weight=float("inf"), **FAST))
    # Non-finite in float32 too: one line, not garbage.
    net.forward = lambda x, names: {k: v * float("inf") for k, v in forward(x, names).items()}  # type: ignore[method-assign]
    with pytest.raises(GramstyleError, match="NaN"):
        list(stylize_iter(content, style, backbone=net, **FAST))
