"""The stopping rule and the prediction of where it fires (gatys/stopping.py)."""

from __future__ import annotations

import pytest

from gramstyle import Stylizer
from gramstyle.gatys.stopping import EXPECTED_STEPS, expected_steps, should_stop

from ..conftest import FAST


def first_stop(curve, window=5, tol=0.05):
    return next(i + 1 for i in range(len(curve)) if should_stop(curve[: i + 1], window, tol))


@pytest.mark.parametrize("power", [0.3, 0.5, 0.8])
def test_the_fit_finds_where_a_power_law_curve_stops(power):
    # A best-J curve whose drops shrink as a power of the step: the fit from 25 steps
    # predicts the rule's step within 10%.
    curve = [10 * (i + 1) ** -power + 1 for i in range(400)]
    truth = first_stop(curve)
    guess = expected_steps(curve[:25], 400, 5, 0.05)
    assert truth > 25 and abs(guess - truth) <= 0.1 * truth


def test_before_a_curve_the_measured_count_and_never_past_the_budget():
    assert expected_steps([], 100, 5, 0.05) == EXPECTED_STEPS
    assert expected_steps([], 15, 5, 0.05) == 15  # a coarse scale's budget is less
    assert expected_steps([3.0] * 10, 100, 5, 0.05) == EXPECTED_STEPS
    flat = [1.0] * 30  # no drops at all: the fit has nothing; the measured count
    assert expected_steps(flat, 60, 5, 0.05) == EXPECTED_STEPS
    assert expected_steps([1.0] * 50, 60, 5, 0.05) == 54  # past it: about another window
    # drops that stop shrinking for a while (noise) do not send the count to the budget
    noisy = [10 * (i + 1) ** -0.5 + 1 for i in range(30)]
    for i in range(20, 30):  # the last drops grow from 1% to 2% a step
        noisy[i] = noisy[i - 1] * (1 - 0.01 * (1 + (i - 20) / 9))
    assert expected_steps(noisy, 100, 5, 0.05) < 100


def test_one_noisy_step_does_not_swing_the_count():
    # A power-law curve whose last step barely dropped: the fit through that step alone
    # says 44; the median of the last three fits keeps the neighbours' 51.
    curve = [100 * (i + 1) ** -0.5 for i in range(30)]
    bumped = [*curve[:-1], curve[-2] * (1 - 1e-4)]
    assert expected_steps(curve, 200, 5, 0.05) == expected_steps(bumped, 200, 5, 0.05) == 51


def test_records_carry_the_expected_count(tiny_net, images):
    content, style = images
    st = Stylizer(backbone=tiny_net)
    settings = {**FAST, "steps": 60, "stop_tol": 0.3, "stop_window": 5}
    recs = list(st.stylize_iter(content, style, **settings))
    assert all(r.done <= r.expected <= r.total for r in recs)
    assert recs[-1].expected == recs[-1].done == recs[-1].total  # the end is known
    assert recs[-1].total < 70  # the final scale stopped before its budget of 60
    # the bar's per-scale counts add up to the record's expectation (first scale)
    planned = [s.expected for s in st.plan(st.prepare(content, style, **settings)).stages]
    assert planned == [10, EXPECTED_STEPS]
    assert sum(recs[3].scale_steps(planned)) == recs[3].expected
