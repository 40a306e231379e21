"""The engine's seams: prepare / plan / run, the session's caches, resumable state."""

from __future__ import annotations

import math

import pytest
import torch

from gramstyle import GramstyleError, RunState, Stylizer
from gramstyle import session as session_mod
from gramstyle.objective import Objective
from gramstyle.run import should_stop

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
    best = min(r.loss for r in final)
    assert recs[-1].best == best
    objective = Objective(st.network(prep.settings), prep.settings, prep.content, prep.styles)
    J = float(objective(recs[-1].image).total)
    assert pytest.approx(best, rel=1e-5) == J


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
    calls = []
    real = session_mod.style_targets

    def counting(net, image, layers, dtype=None):
        calls.append(tuple(image.shape))
        return real(net, image, layers, dtype)

    monkeypatch.setattr(session_mod, "style_targets", counting)
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
    prep = st.prepare(content, style, **{**FAST, "min_size": 48, "steps": 1})
    start = torch.full_like(prep.content, 0.25)
    run = st.run(prep, init=start)
    next(run)
    # After one step the state's best is the start image itself (the only one evaluated).
    assert torch.equal(run.state().best, start)


def test_session_adain_caches_style_stats(images):
    from gramstyle.adain import Decoder

    from .conftest import tiny_vgg

    content, style = images
    torch.manual_seed(0)
    dec = Decoder(widths=(8, 8, 8, 6))
    session = Stylizer(backbone=tiny_vgg(), decoder=dec)
    a = session.stylize(content, style, method="adain", size=48, precision="fp32")
    b = session.stylize(content, style, method="adain", size=48, precision="fp32")
    model = session.adain_model(session.settings.replace(precision="fp32"))
    # The second call found the style's statistics: one encode of the style in all.
    assert (model.misses, model.hits) == (1, 1) and torch.equal(a, b)
    assert math.isfinite(float(a.mean()))
