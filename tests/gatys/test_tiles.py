"""Print size: the tiled objective is exact, plans fit the memory budget, and an image
that fits in one tile runs exactly as before."""

from __future__ import annotations

import copy
import re

import pytest
import torch

from gramstyle import VGG19, GramstyleError, Settings, Stylizer
from gramstyle.gatys.budget import Need, fit, net_cost
from gramstyle.gatys.objective import Objective, style_targets
from gramstyle.gatys.plan import estimate, make_plan, print_steps
from gramstyle.gatys.tiles import TiledObjective, TileProgress, tiled_features, tiled_style_targets
from gramstyle.nn.geometry import Grid
from gramstyle.settings import LECTURE_STYLE_LAYERS
from gramstyle.units import GiB, parse_size

from ..conftest import FAST, TINY_WIDTHS, tiny_vgg

# float64 on the tiny network: tiled and one-pass agree to float64 rounding (about
# 1e-15 relative); a halo one stride too small misses by about 5% (checked below).
RTOL_J, RTOL_GRAD = 1e-12, 1e-10


@pytest.fixture(scope="module")
def net64():
    return tiny_vgg().double()


def rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=torch.float64)


def assert_same(one, tiled, x):
    c0, g0 = one.value_and_grad(x)
    c1, g1 = tiled.value_and_grad(x)
    assert float(c1.total) == pytest.approx(float(c0.total), rel=RTOL_J)
    assert float(c1.content) == pytest.approx(float(c0.content), rel=RTOL_J, abs=1e-300)
    for n in c0.style:
        assert float(c1.style[n]) == pytest.approx(float(c0.style[n]), rel=RTOL_J)
    assert float((g1 - g0).abs().max()) <= RTOL_GRAD * float(g0.abs().max())
    # The value-only call agrees too.
    assert float(tiled(x).total) == pytest.approx(float(c0.total), rel=RTOL_J)


@pytest.mark.parametrize("size", [(75, 101), (64, 64), (97, 53), (41, 90)])
@pytest.mark.parametrize("tile", [16, 40, 64])
def test_tiled_gradient_equals_one_pass(net64, size, tile):
    """Odd and even sizes (ceil-mode pooling at the far edge), tiles from 16 px (every
    tile mostly halo) to few tiles; total variation on the whole image."""
    H, W = size
    C, S, x = rand(1, 3, H, W, seed=1), rand(1, 3, 60, 50, seed=2), rand(1, 3, H, W, seed=3)
    s = Settings(precision="fp32", tv_weight=0.1, style_weight=1e3)
    tiled = TiledObjective(net64, s, C, [S], tile=tile)
    assert len(tiled.grid) > 1 or max(size) <= tile
    assert_same(Objective(net64, s, C, [S]), tiled, x)


def test_deeper_layers_and_avg_pooling():
    """The lecture's layers (relu5_1: stride 16, a 70 px halo) and average pooling."""
    net = VGG19(widths=TINY_WIDTHS, pooling="avg")
    net.load_state_dict(tiny_vgg().state_dict())
    net = net.double()
    C, S, x = rand(1, 3, 70, 150, seed=4), rand(1, 3, 64, 64, seed=5), rand(1, 3, 70, 150, seed=6)
    s = Settings(precision="fp32", style_layers=LECTURE_STYLE_LAYERS, style_weight=1e3)
    tiled = TiledObjective(net, s, C, [S], tile=48)
    assert tiled.grid.halo == 70 and tiled.grid.stride == 16 and len(tiled.grid) == 8
    assert_same(Objective(net, s, C, [S]), tiled, x)


def test_masks_blends_and_extra_costs(net64):
    H, W = 66, 90
    C, x = rand(1, 3, H, W, seed=7), rand(1, 3, H, W, seed=8)
    S1, S2 = rand(1, 3, 50, 40, seed=9), rand(1, 3, 40, 60, seed=10)
    s = Settings(precision="fp32", style_weight=1e3, content_layers={"relu4_2": 1, "relu2_2": 0.5})
    # Soft masks: a feathered vertical split (pooled to each layer's size, antialiased).
    ramp = torch.linspace(-3, 3, W, dtype=torch.float64).sigmoid().expand(1, 1, H, W)
    masks = torch.cat([ramp, 1 - ramp])
    one = Objective(net64, s, C, [S1, S2], masks=masks)
    assert_same(one, TiledObjective(net64, s, C, [S1, S2], masks=masks, tile=32), x)
    # Two styles blended, and a pixel-space extra term (video's temporal cost).
    anchor = rand(1, 3, H, W, seed=11)

    def temporal(G):
        return {"temporal": 3.0 * ((G - anchor) ** 2).mean()}

    one = Objective(net64, s, C, [S1, S2], blend=[0.7, 0.3], extra=temporal)
    tiled = TiledObjective(net64, s, C, [S1, S2], blend=[0.7, 0.3], extra=temporal, tile=40)
    assert_same(one, tiled, x)
    assert float(tiled(x).extra["temporal"]) > 0


def test_cuts_need_valid_convolutions(net64, monkeypatch):
    """The tests above would see a cut padded like the image's edge (as tiling with a
    halo cropped at the end does, with this window): the gradient misses by %."""
    import gramstyle.gatys.tiles as tiles

    C, S, x = rand(1, 3, 75, 101, seed=1), rand(1, 3, 60, 50, seed=2), rand(1, 3, 75, 101, seed=3)
    s = Settings(precision="fp32", style_weight=1e3)
    _, g0 = Objective(net64, s, C, [S]).value_and_grad(x)
    monkeypatch.setattr(tiles, "_conv", lambda layer, h, edges: layer(h))
    _, g1 = TiledObjective(net64, s, C, [S], tile=24).value_and_grad(x)
    assert float((g1 - g0).abs().max()) > 1e-3 * float(g0.abs().max())


def test_tiled_targets_and_features_equal_one_pass(net64):
    x = rand(1, 3, 83, 117, seed=12)
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2"]
    grid = Grid((83, 117), 32, layers)
    whole = net64(x, layers)
    for n, a in tiled_features(net64, x, layers, grid).items():
        torch.testing.assert_close(a, whole[n], rtol=1e-12, atol=1e-12)
    tiled = tiled_style_targets(net64, x, layers, 40)
    for n, t in style_targets(net64, x, layers).items():
        torch.testing.assert_close(tiled[n], t, rtol=1e-12, atol=1e-12)


def test_tile_progress_is_reported(net64):
    seen: list[TileProgress] = []
    C = rand(1, 3, 64, 96, seed=1)
    ob = TiledObjective(net64, Settings(precision="fp32"), C, [C], tile=32, on_tile=seen.append)
    n = len(ob.grid)
    # Construction: the style's and the content's target passes (phase 0), each tiled.
    style_grid = len(Grid((64, 96), 32, list(Settings().style_layers)))
    assert [(p.phase, p.tile, p.tiles) for p in seen] == [
        *((0, i, style_grid) for i in range(1, style_grid + 1)),
        *((0, i, n) for i in range(1, n + 1)),
    ]
    seen.clear()  # one evaluation reports both passes, on the content's size
    ob.value_and_grad(C)
    assert [(p.phase, p.tile, p.tiles) for p in seen] == [
        *((1, i, n) for i in range(1, n + 1)),
        *((2, i, n) for i in range(1, n + 1)),
    ]
    assert {p.size for p in seen} == {(64, 96)}
    seen.clear()  # J alone (a stage checking its last image): phase 3
    ob(C)
    assert [(p.phase, p.tile) for p in seen] == [(3, i) for i in range(1, n + 1)]


# End to end: runs, plans, budgets ----------------------------------------------------


@pytest.fixture
def st(tiny_net):
    return Stylizer(backbone=tiny_net)


def test_whole_run_with_tiles_equals_one_pass(st, images):
    """Same records and image, float32, with masks of colour preservation on: tiles
    change the arithmetic's order only."""
    content, style = images
    s = {
        **FAST,
        "size": 150,
        "min_size": 75,
        "steps": 6,
        "coarse_steps": 4,
        "preserve_color": "luminance",
    }
    plain = list(st.stylize_iter(content, style, **s))
    tiled = list(st.stylize_iter(content, style, **s, tile=64))
    prep = st.prepare(content, style, **s, tile=64)
    assert [stage.tile for stage in st.plan(prep).stages] == [64, 64]
    assert [r.loss for r in tiled] == pytest.approx([r.loss for r in plain], rel=1e-4)
    assert float((tiled[-1].image - plain[-1].image).abs().max()) < 1e-3


def test_fits_in_one_tile_runs_exactly_as_before(st, images, monkeypatch):
    """An image that fits in one tile (or the budget) runs the plain Objective, with
    today's L-BFGS memory: the same records bit for bit."""
    content, style = images
    import gramstyle.gatys.run as run_mod

    made = []
    real = run_mod.Objective

    def spy(*a, **k):
        made.append(1)
        return real(*a, **k)

    monkeypatch.setattr(run_mod, "Objective", spy)
    monkeypatch.setattr(run_mod, "TiledObjective", None)  # must not be used
    plain = list(st.stylize_iter(content, style, **FAST))
    big_tile = list(st.stylize_iter(content, style, **FAST, tile=64, max_memory="8G"))
    prep = st.prepare(content, style, **FAST)
    plan = st.plan(prep)
    assert all(
        s.tile is None and s.history == 50 and s.history_dtype == "fp32" for s in plan.stages
    )
    assert made and [r.loss for r in big_tile] == [r.loss for r in plain]
    assert torch.equal(big_tile[-1].image, plain[-1].image)


def test_resume_inside_a_tiled_stage(st, images):
    from gramstyle import RunState

    content, style = images
    s = {**FAST, "size": 96, "min_size": 96, "tile": 64}
    prep = st.prepare(content, style, **s)
    assert st.plan(prep).stages[0].tile == 64
    whole = list(st.run(prep))
    run = st.run(prep)
    for _, _rec in zip(range(7), run, strict=False):
        pass
    rest = list(st.run(prep, resume=RunState.from_dict(run.state().to_dict())))
    assert [r.loss for r in rest] == [r.loss for r in whole[7:]]
    assert torch.equal(rest[-1].image, whole[-1].image)


def test_plan_fits_the_budget(images):
    """A small budget tiles the large stages and keeps a short bf16 history there; the
    small stages stay one pass with today's history."""
    st = Stylizer(backbone=tiny_vgg())
    content, _ = images
    s = dict(size=1536, min_size=384, steps=40, coarse_steps=20, precision="fp32")
    prep = st.prepare(content, content, **s, max_memory="2G")
    plan = make_plan(prep)  # sized for the real VGG19 (the tiny one needs far less)
    small, *_, last = plan.stages
    assert small.tile is None and (small.history, small.history_dtype) == (50, "fp32")
    assert last.tile is not None and last.history_dtype == "bf16" and last.history <= 10
    assert all(stage.memory <= parse_size("2G") for stage in plan.stages)
    assert [stage.steps for stage in plan.stages] == [20, 20, print_steps(1536, 40, 1.5)]
    est = estimate(plan)
    assert len(est.step_seconds) == 3 and est.step_seconds[0] < est.step_seconds[-1]
    assert est.peak == max(stage.memory for stage in plan.stages) and est.seconds > 0


def test_impossible_sizes_fail_before_any_work(images):
    st = Stylizer(backbone=tiny_vgg())
    content, style = images
    with pytest.raises(GramstyleError, match="needs at least .* GiB .* budget"):
        st.prepare(content, style, size=16384)  # the largest size Settings allows
    with pytest.raises(GramstyleError, match="needs at least"):
        st.prepare(content, style, size=4096, max_memory="1G")
    with pytest.raises(GramstyleError, match="with --tile 4000"):
        st.prepare(content, style, size=4096, tile=4000, max_memory="3G")


def test_fit_prefers_one_pass_then_history_then_tiles():
    cost = net_cost(Settings())
    need = Need((1536, 2048), 40, 1 * GiB, 0, 0)
    big = fit(need, 64 * GiB, cost, None)
    assert (big.tile, big.history, big.history_dtype) == (None, 50, "fp32")
    shorter = fit(need, 14 * GiB, cost, None)
    assert shorter.tile is None and shorter.history_dtype == "bf16"
    tiled = fit(need, 6 * GiB, cost, None)
    assert tiled.tile is not None and tiled.tile % cost.stride == 0 and tiled.bytes <= 6 * GiB
    forced = fit(need, 64 * GiB, cost, None, tile=512)
    assert (forced.tile, forced.history, forced.history_dtype) == (512, 50, "fp32")


@pytest.mark.parametrize("bad", ["6 gigs", "-1G", "0", "G"])
def test_bad_memory_sizes(bad):
    with pytest.raises(GramstyleError, match="memory size"):
        Settings(max_memory=bad)


def test_cli_prints_the_estimate_and_refuses_impossible_sizes(tmp_path, capsys, monkeypatch):
    import numpy as np
    from PIL import Image

    from gramstyle import cli
    from gramstyle import session as session_mod

    net = tiny_vgg()
    monkeypatch.setattr(session_mod, "default_backbone", lambda settings: net)
    c = tmp_path / "c.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8)).save(c)
    args = ["stylize", str(c), str(c), "--min-size", "48", "--steps", "2", "--coarse-steps", "1"]
    assert cli.main([*args, "--size", "96", "--tile", "64", "-o", str(tmp_path / "o.png")]) == 0
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("gramstyle: 2 scales up to 96x72, exact tiles of 64 px from 96")
    assert "GiB peak" in first and "about" in first and "tile " in err
    code = cli.main([*args, "--size", "16384", "-o", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    # validate's floor ("needs about", below 40 GiB of RAM) or the plan's exact fit.
    assert code == 2 and err.count("\n") == 1 and re.search("needs (about|at least)", err)
    assert not (tmp_path / "p.png").exists()


def test_network_copy_is_untouched(net64):
    """The tiled objective leaves the network as it found it (frozen, eval)."""
    before = copy.deepcopy(net64.state_dict())
    C = rand(1, 3, 48, 64, seed=1)
    TiledObjective(net64, Settings(precision="fp32"), C, [C], tile=16).value_and_grad(C)
    assert all(torch.equal(before[k], v) for k, v in net64.state_dict().items())
    assert not any(p.requires_grad for p in net64.parameters())


def test_the_bar_names_a_new_scale_from_its_first_tile():
    from gramstyle.progress import ProgressBar

    bar = ProgressBar(total=10)
    bar.sizes = [(48, 64), (96, 128)]
    bar.bar.set_description("scale 1/2 64x48")
    bar.tile(TileProgress(0, 1, 4, (96, 128)))  # the next scale's targets, before its step
    assert bar.stage == 1 and bar.bar.desc.startswith("scale 2/2 128x96")
    assert "targets, tile 1/4" in bar.bar.postfix
    bar.tile(TileProgress(0, 2, 5, (300, 200)))  # a style image's tiles: no scale change
    assert bar.stage == 1 and "targets, tile 2/5" in bar.bar.postfix
    bar.tile(TileProgress(3, 1, 4, (96, 128)))
    assert "checking the last image, tile 1/4" in bar.bar.postfix
    bar.close()
