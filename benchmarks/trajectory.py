"""J per step at the start of every scale, and what each optimiser setting buys.

Runs gramstyle on image pairs with several optimisers (or optimiser constants, or
settings) and prints, per pair and variant: J at the first steps of every scale (the
jumps after each upsampling), steps taken, the final J, and the neutral judge's
style / content distance of the result (``benchmarks/judge.py``). Quality only: run it
``nice -n 19``; it takes no timings (step counts are what it compares).

Variants (``--variant NAME:k=v,...``): keys ``opt.X`` set a constructor argument of
:class:`gramstyle.gatys.optimize.LBFGS` (``opt.guard=null`` turns the guard off); ``opt=torch``
swaps in ``torch.optim.LBFGS`` with no line search (gramstyle's optimiser before its own,
one fresh optimiser per scale); other keys are :class:`~gramstyle.Settings` fields.

    python benchmarks/trajectory.py --pairs tubingen:starry_night --size 256 \\
        --variant torch:opt=torch --variant default: --variant g0.01:opt.guard=0.01
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]


class TorchLBFGS:
    """``torch.optim.LBFGS`` (history 50, no line search, one evaluation per step) as a
    gramstyle optimiser: its unscaled first step (``min(1, 1/|g|_1)``) at every scale."""

    def __init__(self, lr: float = 1.0, history: int = 50, **_: Any) -> None:
        self.lr, self.history = lr, history
        self.param: Tensor | None = None
        self.opt: torch.optim.LBFGS | None = None

    gamma = None

    def step(self, x: Tensor, evaluate):  # type: ignore[no-untyped-def]
        if self.param is None:
            self.param = x.detach().contiguous().clone().requires_grad_(True)
            self.opt = torch.optim.LBFGS(
                [self.param], lr=self.lr, max_iter=1, history_size=self.history
            )
        assert self.opt is not None
        with torch.no_grad():
            self.param.copy_(x)
        out: dict[str, Any] = {}

        def closure() -> Tensor:
            costs, grad = evaluate(self.param.detach())
            self.param.grad = grad.detach().contiguous().clone()
            out["costs"] = costs
            return costs.total.detach()

        self.opt.step(closure)
        with torch.no_grad():
            self.param.clamp_(0, 1)
        return out["costs"], self.param.detach().clone()

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "torch"}


@contextmanager
def optimizer_patch(opt: dict[str, Any]) -> Iterator[None]:
    """Make :mod:`gramstyle.run` build its L-BFGS with ``opt``'s constructor arguments."""
    import gramstyle.gatys.run as run_mod
    from gramstyle.gatys.optimize import LBFGS

    original = run_mod.make_optimizer
    kind = opt.get("", "lbfgs")
    kwargs = {k: v for k, v in opt.items() if k}

    def make(name, lr, *, history=50, history_dtype=None, gamma=None):  # type: ignore[no-untyped-def]
        if name != "lbfgs":
            return original(name, lr, history=history, history_dtype=history_dtype, gamma=gamma)
        if kind == "torch":
            return TorchLBFGS(lr, history=kwargs.get("history", history))
        args = {"history": history, "history_dtype": history_dtype, "gamma": gamma, **kwargs}
        return LBFGS(lr, **args)

    run_mod.make_optimizer = make  # type: ignore[assignment]
    try:
        yield
    finally:
        run_mod.make_optimizer = original


def parse_variant(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``"name:opt.guard=0.01,steps=40"`` -> (name, optimiser args, settings overrides)."""
    name, _, body = text.partition(":")
    opt: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        key = key.strip()
        try:
            v = json.loads(value)
        except json.JSONDecodeError:
            v = value.strip()
        if key == "opt":
            opt[""] = v
        elif key.startswith("opt."):
            opt[key[4:]] = v
        else:
            settings[key] = v
    return name.strip(), opt, settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pairs", default="tubingen:starry_night", help="content:style,... or all")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--variant", action="append", default=[], metavar="NAME:K=V,...")
    p.add_argument("--first", type=int, default=6, help="steps shown at the start of a scale")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--out", default=None, help="folder for images and a JSONL of every run")
    ns = p.parse_args(argv)

    from benchmarks.judge import Judge
    from benchmarks.pairs import image_path, parse_pairs
    from gramstyle import Settings, Stylizer, load_image, save_image

    out = Path(ns.out) if ns.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    judge = Judge()
    session = Stylizer(Settings(precision=ns.precision))
    variants = [parse_variant(v) for v in ns.variant] or [("default", {}, {})]
    measured = []
    print(
        "| pair | variant | steps | J at the first steps of each scale | best J | style | content |"
    )
    print("|---|---|---|---|---|---|---|")
    for c_name, s_name in parse_pairs(ns.pairs):
        c_path, s_path = image_path(c_name, "content"), image_path(s_name, "style")
        for name, opt, overrides in variants:
            settings = {"size": ns.size, "precision": ns.precision, **overrides}
            recs = []
            with optimizer_patch(opt):
                for rec in session.stylize_iter(c_path, s_path, **settings):
                    recs.append(rec)
            img = recs[-1].image.detach().clamp(0, 1)
            content = load_image(c_path, max(img.shape[-2:]))
            scores = judge.scores(img, content, load_image(s_path))
            per_scale: dict[int, list[float]] = {}
            for r in recs:
                per_scale.setdefault(r.scale, []).append(r.loss)
            starts = " / ".join(
                "→".join(f"{v:.3g}" for v in js[: ns.first]) for js in per_scale.values()
            )
            steps = "+".join(str(len(js)) for js in per_scale.values())
            best = recs[-1].best
            measured.append(
                {
                    "pair": f"{c_name}+{s_name}",
                    "variant": name,
                    "opt": opt,
                    "settings": settings,
                    "steps": steps,
                    "best": best,
                    **scores,
                }
            )
            print(
                f"| {c_name}+{s_name} | {name} | {steps} | {starts} | {best:.4g} "
                f"| {scores['style']:.3g} | {scores['content']:.3g} |",
                flush=True,
            )
            if out:
                stem = f"{c_name}-{s_name}-{ns.size}-{name}"
                save_image(img, out / f"{stem}.png", overwrite=True)
                with open(out / "runs.jsonl", "a") as f:
                    f.write(
                        json.dumps(
                            {
                                "pair": f"{c_name}+{s_name}",
                                "variant": name,
                                "size": ns.size,
                                "opt": opt,
                                "settings": settings,
                                "best": best,
                                **scores,
                                "steps": [[r.scale, r.step, r.loss, r.best] for r in recs],
                            }
                        )
                        + "\n"
                    )
    from benchmarks import record

    record.write("trajectory", {"options": vars(ns), "rows": measured}, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
