"""What a Gatys run's saved state may hold, checked before any work.

A checkpoint's fingerprint proves which inputs and settings made it, nothing more: the
file may have been damaged or edited since. So a state is checked twice before a step
is taken, and anything inconsistent is a one-line :class:`GramstyleError`:

- :func:`check_fields`: every field of :class:`~gramstyle.gatys.run.RunState` is there
  (and no other), of its type; numbers finite and in range; images finite;
- :func:`resumed_plan`: the state fits the plan made afresh for this run: the stage and
  step it stands at, the steps counted, the images' shapes, the precision, and the
  optimiser's state as that optimiser writes it (its kind, keys, list lengths and
  tensor shapes).

What the saved stages must share with the fresh plan: their number and each stage's
size, step budget and style side (they define the picture and the work). What they
may differ in, since it is chosen from the memory free when a run starts: each stage's
tiles (exact tiling computes the same J and gradient either way), its L-BFGS history
length and storage, and its memory estimate. A resumed run keeps its own choices of
those, so its optimiser continues exactly: an L-BFGS history of 1 to
:data:`~gramstyle.gatys.budget.HISTORY` pairs, tiles no finer than the network's
pooling stride (the tiler's own floor).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from ..device import DTYPES, dtype_name
from ..errors import GramstyleError
from ..inputs import Prepared
from .budget import HISTORY
from .plan import Plan, Stage


class BadState(GramstyleError):
    """A saved run state that does not fit the run it claims to be."""

    def __init__(self, why: str) -> None:
        super().__init__(f"the checkpoint does not fit this run ({why}); delete it to start afresh")


def _int(v: Any, lo: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _image(v: Any) -> bool:
    return (
        isinstance(v, Tensor)
        and v.dtype == torch.float32
        and v.dim() == 4
        and tuple(v.shape[:2]) == (1, 3)
        and bool(torch.isfinite(v).all())
    )


#: RunState's fields and what each must be (a test keeps the two in step).
FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "key": ("a string", lambda v: isinstance(v, str)),
    "stage": ("a whole number >= 0", _int),
    "step": ("a whole number >= 0", _int),
    "done": ("a whole number >= 0", _int),
    "total": ("a whole number >= 0", _int),
    "x": ("a finite float32 image (1, 3, H, W)", _image),
    "best": ("a finite float32 image (1, 3, H, W)", _image),
    "best_loss": ("a finite number", _real),
    "losses": ("a list of finite numbers", lambda v: isinstance(v, list) and all(map(_real, v))),
    "stopped": ("true or false", lambda v: isinstance(v, bool)),
    "optimizer": ("an optimiser's state", lambda v: isinstance(v, dict)),
    "gamma": ("a positive number or none", lambda v: v is None or (_real(v) and v > 0)),
    "precision": (f"one of {', '.join(DTYPES)}", lambda v: isinstance(v, str) and v in DTYPES),
    "elapsed": ("a finite number >= 0", lambda v: _real(v) and v >= 0),
    "stages": ("a list of stages or none", lambda v: v is None or isinstance(v, list)),
}


def check_fields(d: Any) -> None:
    """Refuse a saved state that is not a run state: a field missing, unknown or wrong."""
    if not isinstance(d, Mapping):
        raise BadState(f"its state is a {type(d).__name__}, not a run state")
    missing = [k for k in FIELDS if k not in d]
    unknown = [str(k) for k in d if k not in FIELDS]
    if missing or unknown:
        what = f"no {missing[0]!r}" if missing else f"an unknown field {unknown[0]!r}"
        raise BadState(f"its state has {what}")
    for name, (kind, ok) in FIELDS.items():
        if not ok(d[name]):
            raise BadState(f"{name} must be {kind}")


# ---------------------------------------------------------------- against the plan


def resumed_plan(state: Any, prep: Prepared, plan: Plan) -> Plan:
    """The plan a run resumed from ``state`` (a RunState) follows: ``plan``, the fresh
    one, with the saved stages' own tiles and L-BFGS memory, after every check above."""
    stages = plan.stages if state.stages is None else _stages(state.stages, plan)
    k = state.stage
    if k >= len(stages):
        raise BadState(f"stage {k} of a plan of {len(stages)}")
    stage = stages[k]
    if state.step > stage.steps:
        raise BadState(f"step {state.step} of stage {k}, which has {stage.steps}")
    earlier = sum(st.steps for st in stages[:k])
    if not state.step <= state.done <= earlier + state.step:
        raise BadState(f"{state.done} steps done at step {state.step} of stage {k}")
    if not state.done <= state.total <= plan.total:
        raise BadState(f"{state.total} steps in all; the plan has {plan.total}")
    H, W = stage.size
    for name in ("x", "best"):
        if tuple(getattr(state, name).shape[2:]) != (H, W):
            shape = tuple(getattr(state, name).shape[2:])
            raise BadState(f"{name} is {shape[1]}x{shape[0]} px, stage {k} is {W}x{H}")
    if state.precision not in (dtype_name(prep.dtype), "fp32"):
        raise BadState(f"precision {state.precision}, the run's is {dtype_name(prep.dtype)}")
    if len(state.losses) > prep.settings.stop_window + 1:
        raise BadState(f"{len(state.losses)} losses kept, the stopping rule keeps fewer")
    _check_optimizer(state.optimizer, prep.settings.optimizer, stage, state.x.numel())
    return replace(plan, stages=stages)


STAGE_KEYS = {"size", "steps", "style_side", "history", "history_dtype", "tile"}
STAGE_KEYS |= {"style_tile", "memory"}


def _stages(saved: list[Any], plan: Plan) -> tuple[Stage, ...]:
    if len(saved) != len(plan.stages):
        raise BadState(f"{len(saved)} stages, the plan has {len(plan.stages)}")
    out = []
    # Tiles are exact at any size; finer than the pooling stride the tiler cannot cut.
    finest = plan.cost.stride if plan.cost is not None else 1
    for k, (d, fresh) in enumerate(zip(saved, plan.stages, strict=True)):
        # "expected" is the plan's estimate of the steps, taken from the fresh plan.
        if not isinstance(d, dict) or set(d) - {"expected"} != STAGE_KEYS:
            raise BadState(f"stage {k} is not a stage")
        size = d["size"]
        if not (isinstance(size, (tuple, list)) and tuple(size) == fresh.size):
            h, w = fresh.size
            raise BadState(f"stage {k} is {_side(size)}, the plan's is {w}x{h} px")
        for name in ("steps", "style_side"):
            if d[name] != getattr(fresh, name) or not _int(d[name]):
                raise BadState(
                    f"stage {k} has {name} {d[name]!r}, the plan's is {getattr(fresh, name)}"
                )
        choices = [
            ("history", _int(d["history"], 1) and d["history"] <= HISTORY),
            ("history_dtype", d["history_dtype"] in ("fp32", "bf16")),
            ("tile", d["tile"] is None or _int(d["tile"], finest)),
            ("style_tile", d["style_tile"] is None or _int(d["style_tile"], finest)),
            ("memory", _int(d["memory"])),
        ]
        for name, ok in choices:
            if not ok:
                raise BadState(f"stage {k} has {name} {d[name]!r}")
        out.append(replace(fresh, **{name: d[name] for name, _ in choices}))
    return tuple(out)


def _side(size: Any) -> str:
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return f"{size[1]}x{size[0]} px"
    return repr(size)[:40]


OPTIMIZER_KEYS = {
    "lbfgs": {"kind", "s", "y", "rho", "gamma", "x_prev", "g_prev", "J_prev", "rejected", "radius"},
    "adam": {"kind", "m", "v", "t"},
}


def _check_optimizer(d: dict, name: str, stage: Stage, n: int) -> None:
    """``d`` is the state ``name``'s optimiser writes for an image of ``n`` values."""
    if d.get("kind") != name or set(d) != OPTIMIZER_KEYS.get(name):
        raise BadState(f"the optimiser's state is not that of {name}")

    def vector(v: Any, dtypes: tuple[torch.dtype, ...], flat: bool = True) -> bool:
        return (
            isinstance(v, Tensor)
            and v.dtype in dtypes
            and (v.dim() == 1 or not flat)
            and v.numel() == n
            and bool(torch.isfinite(v).all())
        )

    if name == "adam":  # moments shaped like the image
        checks = [
            ("m", d["m"] is None or vector(d["m"], (torch.float32,), flat=False)),
            ("v", d["v"] is None or vector(d["v"], (torch.float32,), flat=False)),
            ("t", _int(d["t"])),
        ]
    else:
        pairs = [d["s"], d["y"], d["rho"]]
        if not all(isinstance(v, list) for v in pairs) or len({len(v) for v in pairs}) != 1:
            raise BadState("the optimiser's history lists differ in length")
        if len(d["s"]) > stage.history:
            raise BadState(f"{len(d['s'])} history pairs, the stage keeps {stage.history}")
        stored = (torch.float32, torch.bfloat16)
        checks = [
            ("s", all(vector(v, stored) for v in d["s"])),
            ("y", all(vector(v, stored) for v in d["y"])),
            ("rho", all(map(_real, d["rho"]))),
            ("gamma", d["gamma"] is None or (_real(d["gamma"]) and d["gamma"] > 0)),
            ("x_prev", d["x_prev"] is None or vector(d["x_prev"], (torch.float32,))),
            ("g_prev", d["g_prev"] is None or vector(d["g_prev"], (torch.float32,))),
            ("J_prev", d["J_prev"] is None or _real(d["J_prev"])),
            ("rejected", _int(d["rejected"])),
            ("radius", d["radius"] is None or (_real(d["radius"]) and d["radius"] > 0)),
        ]
    for key, ok in checks:
        if not ok:
            raise BadState(
                f"the optimiser's {key} does not fit a {stage.size[1]}x{stage.size[0]} px image"
            )
