"""Optimisers over the pixels of G: L-BFGS (the default) and Adam.

Both take one evaluation of J and its gradient per step, hold their state in plain
tensors and numbers (``state_dict`` / ``load_state_dict``, for checkpoints), and return
a new image instead of changing the one they were given, so a caller can keep any
iterate (the best one, say) without copying. Pixels are clamped to [0, 1] after each
step: a projection onto valid images, not in the lecture.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .objective import Costs

#: ``x -> (costs at x, dJ/dx)``: what an optimiser asks of the objective.
Evaluate = Callable[[Tensor], tuple[Costs, Tensor]]


class NonFiniteCost(ArithmeticError):
    """The cost became NaN or infinite (e.g. fp16 overflow); the caller may retry in fp32."""


def _dot(a: Tensor, b: Tensor) -> float:
    # History vectors may be stored in bf16: accumulate in float32 (float64 for the sum).
    return float(torch.dot(a.float(), b.float()))


def _finite(J: float) -> float:
    if not math.isfinite(J):
        raise NonFiniteCost(J)
    return J


class LBFGS:
    """Limited-memory BFGS on the flattened pixels, one evaluation of J per step.

    Without a line search each step is the quasi-Newton step ``-H g`` (times ``lr``)
    from the last ``history`` pairs ``(s, y)``. Three additions keep steps well scaled:

    - **First step.** With no curvature known, the first step moves the pixels by at
      most ``first_step`` (a gradient step scaled to that maximum); when a previous
      scale of the pyramid supplies ``gamma`` (the ``s.y / y.y`` scale of its inverse
      Hessian), the first step uses it instead. Costs are per position, so the
      gradient per pixel shrinks, and ``gamma`` grows, with the pixel count: the caller
      scales it by the ratio of pixel counts.
    - **Guard.** A step that raised J by more than ``guard`` (relative) is taken back:
      the next image lies on the rejected step, at the minimum of a parabola fitted to
      what is known (at most ``backtrack`` of the way), and the rejected pair does not
      enter the history. This is a backtracking line search paid for only on the steps
      that need it (an accepted step costs nothing extra). Early on J is far from
      quadratic (the style cost is quartic in the activations), so the curvature of one
      short step underestimates the next: after a rejection the following steps move a
      pixel at most as far as the accepted shorter step did, a trust radius that doubles
      with every accepted step until it lifts. ``guard=None`` turns all this off.
    - **Bounds.** Pixels are clamped to [0, 1] after each step. Where pixels at a bound
      carried the model's descent, the clamped step can climb; then the history is
      dropped and the step is a projected gradient step (which never climbs).
    - **Reduced-precision memory.** ``history_dtype`` (e.g. ``torch.bfloat16``) stores
      the ``(s, y)`` pairs in fewer bytes; products are accumulated in float32.
    """

    def __init__(
        self,
        lr: float = 1.0,
        history: int = 50,
        history_dtype: torch.dtype | None = None,
        gamma: float | None = None,
        first_step: float = 0.05,
        guard: float | None = 0.0,
        backtrack: float = 0.5,
        min_backtrack: float = 0.05,
        radius: float | None = None,
        grow: float = 2.0,
        lift: float = 0.5,
    ) -> None:
        if history < 1:
            raise ValueError(f"history must be at least 1, got {history}")
        self.lr, self.history, self.history_dtype = lr, history, history_dtype
        self.first_step, self.guard, self.backtrack = first_step, guard, backtrack
        self.gamma = gamma
        self.s: list[Tensor] = []
        self.y: list[Tensor] = []
        self.rho: list[float] = []
        self.x_prev: Tensor | None = None  # last accepted image, flat
        self.g_prev: Tensor | None = None  # its gradient
        self.J_prev: float | None = None
        self.rejected = 0  # consecutive rejected steps
        self.min_backtrack, self.grow, self.lift = min_backtrack, grow, lift
        self.radius: float | None = radius  # largest pixel change allowed (trust radius)

    def step(self, x: Tensor, evaluate: Evaluate) -> tuple[Costs, Tensor]:
        costs, grad = evaluate(x)
        J = _finite(float(costs.total))
        flat, g = x.detach().reshape(-1), grad.detach().reshape(-1).float()
        if self._overshot(J):
            return costs, self._retreat(flat, J).view_as(x)
        if self.x_prev is not None and self.g_prev is not None:
            self._remember(flat.float() - self.x_prev.float(), g - self.g_prev)
        self.rejected = 0
        if self.radius is not None:  # trust grows back while steps are accepted
            self.radius = None if self.radius >= self.lift else self.grow * self.radius
        self.x_prev, self.g_prev, self.J_prev = flat, g, J
        nxt = self._next(flat, g)
        if self.s and _dot(g, nxt.float() - flat.float()) >= 0:
            # The clamp to [0, 1] cut the model's step down to one that climbs (pixels at
            # a bound carried its descent): backtracking along it could never succeed.
            # Forget the model; a projected gradient step never climbs.
            self.s, self.y, self.rho = [], [], []
            nxt = self._next(flat, g)
        return costs, nxt.view_as(x)

    def _next(self, flat: Tensor, g: Tensor) -> Tensor:
        """``flat`` moved along the model's direction, within the trust radius and [0, 1]."""
        d = self._direction(g)
        if self.radius is not None:
            top = float(d.abs().max())
            if top > self.radius:
                d.mul_(self.radius / top)
        return (flat + d).clamp_(0, 1)

    def _overshot(self, loss: float) -> bool:
        """Did the last step raise J to ``loss``, more than the guard allows?"""
        if self.guard is None or self.J_prev is None:
            return False
        return loss > self.J_prev + self.guard * abs(self.J_prev)

    def _retreat(self, flat: Tensor, loss: float) -> Tensor:
        """The next image after a rejected step: back along it towards the last accepted one.

        How far back: the minimum of the parabola through J at the accepted image, its
        slope along the step, and J at the rejected image (Armijo backtracking's usual
        interpolation), kept within [0.05, ``backtrack``] of the step.
        """
        assert self.x_prev is not None and self.g_prev is not None and self.J_prev is not None
        self.rejected += 1
        step = flat.float() - self.x_prev.float()
        slope = _dot(self.g_prev, step)
        rise = loss - self.J_prev
        t = self.backtrack
        if slope < 0 and rise - slope > 0:
            t = min(self.backtrack, max(self.min_backtrack, -slope / (2 * (rise - slope))))
        if self.rejected >= 4:  # the model is wrong, not just the step length: forget it
            self.s, self.y, self.rho = [], [], []
            if self.gamma is not None:
                self.gamma *= t
        # The next steps may move a pixel at most as far as this shorter step does.
        self.radius = t * float(step.abs().max())
        return (self.x_prev.float() + t * step).to(flat.dtype)

    def _remember(self, s: Tensor, y: Tensor) -> None:
        ys = _dot(y, s)
        # Curvature condition: keep the pair only if it says J is convex along s.
        if ys <= 1e-10 * math.sqrt(_dot(s, s) * _dot(y, y)):
            return
        while len(self.s) >= self.history:  # >=: a resumed state may hold more pairs
            self.s.pop(0), self.y.pop(0), self.rho.pop(0)
        dtype = self.history_dtype or torch.float32
        self.s.append(s.to(dtype))
        self.y.append(y.to(dtype))
        self.rho.append(1.0 / ys)
        self.gamma = ys / _dot(y, y)

    def _direction(self, g: Tensor) -> Tensor:
        """``-lr H g`` by the two-loop recursion; the scaled first step without history."""
        if not self.s:
            if self.gamma is not None:
                return g * (-self.lr * self.gamma)
            top = float(g.abs().max())
            return g * (-self.first_step / top) if top > 0 else torch.zeros_like(g)
        q = -g
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho), strict=True):
            a = rho * _dot(s, q)
            q.add_(y.float(), alpha=-a)
            alphas.append(a)
        assert self.gamma is not None
        r = q.mul_(self.gamma)
        for s, y, rho, a in zip(self.s, self.y, self.rho, reversed(alphas), strict=True):
            b = rho * _dot(y, r)
            r.add_(s.float(), alpha=a - b)
        return r.mul_(self.lr)

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "lbfgs",
            "s": list(self.s),
            "y": list(self.y),
            "rho": list(self.rho),
            "gamma": self.gamma,
            "x_prev": self.x_prev,
            "g_prev": self.g_prev,
            "J_prev": self.J_prev,
            "rejected": self.rejected,
            "radius": self.radius,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "lbfgs":
            raise ValueError(f"not an L-BFGS state: {state.get('kind')!r}")
        self.s, self.y, self.rho = list(state["s"]), list(state["y"]), list(state["rho"])
        self.gamma, self.J_prev, self.rejected = state["gamma"], state["J_prev"], state["rejected"]
        self.radius = state["radius"]
        self.x_prev, self.g_prev = state["x_prev"], state["g_prev"]


class Adam:
    """Adam (Kingma & Ba 2015) on the pixels; ``lr`` in pixel units per step."""

    def __init__(
        self, lr: float = 0.02, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.t = 0

    def step(self, x: Tensor, evaluate: Evaluate) -> tuple[Costs, Tensor]:
        costs, g = evaluate(x)
        _finite(float(costs.total))
        b1, b2 = self.betas
        if self.m is None or self.v is None:
            self.m, self.v = torch.zeros_like(g), torch.zeros_like(g)
        self.t += 1
        # Out of place: a state_dict taken earlier (a checkpoint) must not change under it.
        self.m = torch.lerp(self.m, g, 1 - b1)
        self.v = torch.addcmul(self.v * b2, g, g, value=1 - b2)
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        return costs, (x.detach() - self.lr * m_hat / (v_hat.sqrt() + self.eps)).clamp_(0, 1)

    @property
    def gamma(self) -> None:  # nothing to carry to the next scale
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "adam", "m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "adam":
            raise ValueError(f"not an Adam state: {state.get('kind')!r}")
        self.m, self.v, self.t = state["m"], state["v"], state["t"]


def make_optimizer(
    name: str,
    lr: float,
    *,
    history: int = 50,
    history_dtype: torch.dtype | None = None,
    gamma: float | None = None,
) -> LBFGS | Adam:
    """The optimiser ``name`` (``lbfgs`` or ``adam``) with step size ``lr``."""
    if name == "lbfgs":
        return LBFGS(lr, history=history, history_dtype=history_dtype, gamma=gamma)
    if name == "adam":
        return Adam(lr)
    raise ValueError(f"unknown optimizer {name!r}")
