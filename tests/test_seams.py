"""The engine's seams: prepare / plan / run, the session's caches, resumable state."""

from __future__ import annotations

import math

import pytest
import torch

from gramstyle import GramstyleError, RunState, Stylizer
from gramstyle.gatys.objective import Objective
from gramstyle.gatys.run import should_stop

from .conftest import FAST


@pytest.fixture
def st(tiny_net):
    return Stylizer(backbone=tiny_net)


def test_plan_sizes_and_total(st, images):
    content, style = images
    prep = st.prepare(content, style, **FAST)
    plan = st.plan(prep)
    assert [s.size for s in plan.stages] == [(18, 24), (36, 48)]
    assert [s.steps for s in plan.stages] == [10, 15] and plan.total == 25
    assert [s.style_side for s in plan.stages] == [24, 48]


def test_prepare_keeps_a_style_only_as_large_as_a_stage_shows_it(st, images, tmp_path):
    from PIL import Image

    from gramstyle.image import tensor_to_pil

    content, style = images
    big = tmp_path / "big.png"
    tensor_to_pil(torch.nn.functional.interpolate(style, scale_factor=8)).save(big)  # 384 px
    prep = st.prepare(content, [big, style], **FAST)  # FAST: size 48, style scale 1
    assert max(prep.styles[0].shape[-2:]) == 48  # shrunk once, as the final stage shows it
    assert prep.styles[1].shape == style.shape  # a small style is never enlarged
    wide = st.prepare(content, big, **{**FAST, "style_scale": 2.0})
    assert max(wide.styles[0].shape[-2:]) == 96
    assert Image.open(big).size == (384, 288)  # the user's file is left alone


def test_prepare_key_follows_inputs_and_settings(st, images):
    content, style = images
    k = st.prepare(content, style, **FAST).key
    assert st.prepare(content.clone(), style.clone(), **FAST).key == k
    assert st.prepare(content, style, **{**FAST, "steps": 16}).key != k
    other = content.clone()
    other[..., 0, 0] = 0.5
    assert st.prepare(other, style, **FAST).key != k


def test_resume_continues_exactly(st, images):
    """A run stopped after any step and resumed from its state ends at the same picture."""
    content, style = images
    prep = st.prepare(content, style, **FAST)
    whole = list(st.run(prep))
    for stop_after in (4, 10, 17):  # inside the coarse stage, at its end, in the last one
        run = st.run(prep)
        for _, _rec in zip(range(stop_after), run, strict=False):
            pass
        state = RunState.from_dict(run.state().to_dict())
        rest = list(st.run(prep, resume=state))
        assert rest[0].done == stop_after + 1
        assert [r.loss for r in rest] == [r.loss for r in whole[stop_after:]]
        assert torch.equal(rest[-1].image, whole[-1].image)


def test_resume_keeps_the_plan_it_started_with(st, images):
    """Tiles and L-BFGS memory are chosen from the memory free at the start; a resumed
    run keeps the stages it saved, whatever plan it is handed, and ends where the
    uninterrupted run ends."""
    import dataclasses

    content, style = images
    prep = st.prepare(content, style, **FAST)
    plan = st.plan(prep)
    tiled = dataclasses.replace(
        plan, stages=tuple(dataclasses.replace(s, history=3, tile=32) for s in plan.stages)
    )
    whole = list(st.run(prep, tiled))
    run = st.run(prep, tiled)
    for _, _rec in zip(range(7), run, strict=False):
        pass
    state = RunState.from_dict(run.state().to_dict())
    assert [d["tile"] for d in state.stages] == [32] * len(plan.stages)
    rest = list(st.run(prep, plan, resume=state))  # another plan: the saved one wins
    assert [r.loss for r in rest] == [r.loss for r in whole[7:]]
    assert torch.equal(rest[-1].image, whole[-1].image)


def test_resume_refuses_another_runs_state(st, images):
    content, style = images
    run = st.run(st.prepare(content, style, **FAST))
    next(run)
    other = st.prepare(content, style, **{**FAST, "seed": 5})
    with pytest.raises(GramstyleError, match="other inputs or settings"):
        st.run(other, resume=run.state())


def test_result_is_the_best_evaluated_image(st, images):
    content, style = images
    prep = st.prepare(content, style, **FAST)
    recs = list(st.run(prep))
    final = [r for r in recs if r.scale == recs[-1].scale]
    # The best of every image evaluated in the last stage: each step's start, and the
    # last step's result (evaluated once more at the end, without gradient).
    assert recs[-1].best <= min(r.loss for r in final)
    objective = Objective(st.network(prep.settings), prep.settings, prep.content, prep.styles)
    J = float(objective(recs[-1].image).total)
    assert pytest.approx(recs[-1].best, rel=1e-5) == J


def test_stopping_rule_ends_a_scale_early(st, images):
    content, style = images
    s = {**FAST, "steps": 200, "coarse_steps": 200, "stop_tol": 0.5, "stop_window": 3}
    recs = list(st.stylize_iter(content, style, **s))
    assert recs[-1].done == recs[-1].total < 400
    per_scale = [sum(1 for r in recs if r.scale == k) for k in range(2)]
    assert all(4 <= n < 200 for n in per_scale)
    assert should_stop([1.0, 0.45, 0.4], window=2, tol=0.5) is False
    assert should_stop([1.0, 0.45, 0.4], window=1, tol=0.5) is True


def test_style_targets_are_computed_once_per_session(st, images, monkeypatch):
    content, style = images
    from gramstyle.gatys import targets

    calls = []
    real = targets.one_pass_targets

    def counting(net, image, layers, dtype=None):
        calls.append(tuple(image.shape))
        return real(net, image, layers, dtype)

    monkeypatch.setattr(targets, "one_pass_targets", counting)
    list(st.stylize_iter(content, style, **FAST))
    assert len(calls) == 2  # one per scale
    list(st.stylize_iter(torch.rand_like(content), style, **FAST))
    assert len(calls) == 2  # another photo, same style: no new style pass
    list(st.stylize_iter(content, style.flip(-1), **FAST))
    assert len(calls) == 4


def test_extra_cost_enters_J_and_the_records(st, images):
    content, style = images
    prep = st.prepare(content, style, **{**FAST, "min_size": 48, "steps": 3, "init": "content"})
    anchor = torch.full_like(prep.content, 0.5)

    def temporal(x):
        return {"temporal": 100.0 * ((x - anchor) ** 2).mean()}

    rec = next(iter(st.run(prep, extra_cost=temporal)))
    plain = next(iter(st.run(prep)))
    assert rec.extra["temporal"] == pytest.approx(100 * float(((prep.content - 0.5) ** 2).mean()))
    assert rec.loss == pytest.approx(plain.loss + rec.extra["temporal"], rel=1e-5)


def test_init_image_is_the_start(st, images):
    content, style = images
    prep = st.prepare(content, style, **{**FAST, "min_size": 48, "steps": 2})
    start = torch.full_like(prep.content, 0.25)
    run = st.run(prep, init=start)
    next(run)
    # After one of two steps the state's best is the start image (the only one evaluated).
    assert torch.equal(run.state().best, start)


def test_session_adain_caches_style_stats(images):
    from gramstyle.adain.decoder import Decoder

    from .conftest import tiny_vgg

    content, style = images
    torch.manual_seed(0)
    dec = Decoder(widths=(8, 8, 8, 6))
    session = Stylizer(backbone=tiny_vgg(), decoder=dec)
    a = session.stylize(content, style, method="adain", size=48, precision="fp32")
    b = session.stylize(content, style, method="adain", size=48, precision="fp32")
    from gramstyle.adain.method import ADAIN

    model = ADAIN.model(session, session.settings.replace(precision="fp32"))
    # The second call found the style's statistics: one encode of the style in all.
    assert (model.misses, model.hits) == (1, 1) and torch.equal(a, b)
    assert math.isfinite(float(a.mean()))


def test_one_step_returns_the_stepped_image_when_it_is_better(st, images):
    """--steps 1 once returned the start image (the last step's result was never
    evaluated); the stage's end evaluates it."""
    content, style = images
    prep = st.prepare(content, style, **{**FAST, "min_size": 48, "steps": 1})
    start = torch.full_like(prep.content, 0.25)
    (rec,) = list(st.run(prep, init=start))
    assert not torch.equal(rec.image, start) and rec.best < rec.loss  # loss: J(start)
