"""The optimisers: any start layout, state that round-trips, the L-BFGS first step and guard."""

from __future__ import annotations

import pytest
import torch

from gramstyle.gatys.objective import Costs
from gramstyle.gatys.optimize import LBFGS, Adam, make_optimizer


def quadratic(target, scale=1.0):
    """J(x) = scale * ||x - target||^2 and its gradient, as an objective would return them."""

    def evaluate(x):
        total = scale * ((x - target) ** 2).sum()
        zero = total.new_zeros(())
        return Costs(total=total, content=total, style={}, tv=zero), 2 * scale * (x - target)

    return evaluate


def test_lbfgs_accepts_channels_last_start():
    target = torch.rand(1, 3, 6, 8)
    x0 = torch.rand(1, 6, 8, 3).permute(0, 3, 1, 2)  # as pil_to_tensor returns it
    assert not x0.is_contiguous()
    opt, x = make_optimizer("lbfgs", 0.5), x0
    for _ in range(5):
        _, x = opt.step(x, quadratic(target))
    assert float(((x - target) ** 2).sum()) < float(((x0 - target) ** 2).sum())


def test_lbfgs_solves_a_quadratic_and_never_mutates_its_input():
    target = torch.rand(1, 3, 6, 8) * 0.8 + 0.1
    x = x0 = torch.zeros(1, 3, 6, 8)
    opt, evaluate = LBFGS(), quadratic(target, scale=1e-3)
    for _ in range(12):
        _, x = opt.step(x, evaluate)
    assert torch.equal(x0, torch.zeros(1, 3, 6, 8))
    assert float((x - target).abs().max()) < 1e-4


def test_first_step_moves_pixels_by_at_most_first_step():
    # A huge gradient: an unscaled step would throw the image far outside [0, 1].
    target = torch.full((1, 3, 4, 4), 0.5)
    opt = LBFGS(first_step=0.05)
    _, x = opt.step(torch.zeros(1, 3, 4, 4), quadratic(target, scale=1e6))
    assert float(x.abs().max()) == pytest.approx(0.05)


def test_carried_gamma_scales_the_first_step():
    target = torch.full((1, 3, 4, 4), 0.5)
    # For J = c ||x - t||^2 the inverse Hessian is 1/(2c): that gamma lands exactly.
    opt = LBFGS(gamma=1 / (2 * 1e3))
    _, x = opt.step(torch.zeros(1, 3, 4, 4), quadratic(target, scale=1e3))
    assert torch.allclose(x, target)


def test_guard_takes_back_a_step_that_raised_the_cost():
    target = torch.full((1, 1, 2, 2), 0.5)
    opt = LBFGS(gamma=10.0, guard=0.0, backtrack=0.5)  # gamma far too large: overshoots
    evaluate = quadratic(target, scale=1.0)
    x0 = torch.full((1, 1, 2, 2), 0.4)
    _, x1 = opt.step(x0, evaluate)  # jumps to the clamp at 1.0
    assert torch.allclose(x1, torch.ones_like(x1))
    costs, x2 = opt.step(x1, evaluate)  # J rose: back along the rejected step
    assert float(costs.total) > float(evaluate(x0)[0].total)
    # J is a parabola along the step (J(0.4) = 0.04, slope -0.48, J(1.0) = 1.0), so the
    # interpolation lands on its minimum: t = 0.48 / (2 (0.96 + 0.48)) = 1/6, x = 0.5.
    assert torch.allclose(x2, torch.full_like(x2, 0.5))
    assert opt.s == []  # the rejected pair did not enter the history
    assert opt.radius == pytest.approx(0.1)  # the next steps move pixels at most 0.1


def test_trust_radius_caps_steps_and_doubles_while_accepted():
    target = torch.full((1, 1, 2, 2), 0.9)
    opt = LBFGS(gamma=0.5)  # the full step would land on the target: 0.9 from 0
    opt.radius = 0.05
    evaluate = quadratic(target, scale=1.0)
    _, x1 = opt.step(torch.zeros(1, 1, 2, 2), evaluate)
    assert float(x1.max()) == pytest.approx(0.1)  # accepted: radius 0.1, step capped
    _, x2 = opt.step(x1, evaluate)
    assert float((x2 - x1).max()) == pytest.approx(0.2)
    _, x3 = opt.step(x2, evaluate)
    assert float((x3 - x2).max()) == pytest.approx(0.4)
    _, x4 = opt.step(x3, evaluate)  # radius 0.8 no longer bites: L-BFGS's own step
    assert torch.allclose(x4, target)
    opt.step(x4, evaluate)
    assert opt.radius is None  # past 0.5 it lifts


@pytest.mark.parametrize("start", [(0.2, 0.9), (0.05, 0.1), (0.9, 0.9)])
def test_lbfgs_reaches_a_minimum_on_the_bound(start):
    # J = x'Ax/2 - b'x with coupled pixels; its minimum over [0, 1]^2 is (0, 0.3), J = -0.045.
    # Pixel 0 is pressed against 0: the model's step, clamped, can climb. Backtracking along
    # it used to halve forever (a 577 px run stopped at step 37 with J flat); the optimiser
    # must drop the model and go on.
    A, b = torch.tensor([[1.0, -0.9], [-0.9, 1.0]]), torch.tensor([-0.5, 0.3])

    def evaluate(x):
        v = x.reshape(-1)
        total = 0.5 * v @ A @ v - b @ v
        zero = total.new_zeros(())
        return Costs(total=total, content=total, style={}, tv=zero), (A @ v - b).view_as(x)

    opt, x = LBFGS(), torch.tensor(start).view(1, 1, 1, 2)
    for _ in range(60):
        _, x = opt.step(x, evaluate)
    assert torch.allclose(x.flatten(), torch.tensor([0.0, 0.3]), atol=1e-3)
    assert float(evaluate(x)[0].total) == pytest.approx(-0.045, abs=1e-6)


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_state_round_trips_exactly(name):
    target = torch.rand(1, 3, 5, 5)
    evaluate = quadratic(target, scale=1e-2)
    a, x = make_optimizer(name, 0.5 if name == "lbfgs" else 0.02), torch.zeros(1, 3, 5, 5)
    for _ in range(4):
        _, x = a.step(x, evaluate)
    b = make_optimizer(name, 0.5 if name == "lbfgs" else 0.02)
    b.load_state_dict(a.state_dict())
    xa = xb = x
    for _ in range(4):
        _, xa = a.step(xa, evaluate)
        _, xb = b.step(xb, evaluate)
    assert torch.equal(xa, xb)
    with pytest.raises(ValueError, match="not an"):
        (Adam() if name == "lbfgs" else LBFGS()).load_state_dict(a.state_dict())


def test_bf16_history_still_converges():
    target = torch.rand(1, 3, 6, 8) * 0.8 + 0.1
    x, opt = torch.zeros(1, 3, 6, 8), LBFGS(history_dtype=torch.bfloat16)
    evaluate = quadratic(target, scale=1e-3)
    for _ in range(15):
        _, x = opt.step(x, evaluate)
    assert all(s.dtype == torch.bfloat16 for s in opt.s)
    assert float((x - target).abs().max()) < 1e-2
