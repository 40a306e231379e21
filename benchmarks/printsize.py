"""Print size: memory, time and exactness of the tiled objective (issue 12).

Every measured run is a fresh child process, so its peak RSS (``ru_maxrss``) is the
run's own; the child prints one JSON line. Subcommands print markdown tables:

  table    sizes x {tiles (the --max-memory budget), one pass}: peak RSS, seconds per
           final-scale step, total time, the plan's estimate; ``--steps-only N`` runs N
           steps per scale instead of the default budgets (memory and per-step time)
  ratio    at 512 px: a final-scale step (J + gradient, and the whole L-BFGS step) with
           tiles vs one pass, alternating; and the mean absolute difference of the
           images after the same steps
  history  L-BFGS memory at print size: J after N final-scale steps from the same start
           with (pairs, dtype) variants
  run      one run (JSON), for the others and by hand
  before   a tiled run at one size with this tree and with git revision REV,
           alternating (``--steps-only N`` per scale): seconds per final-scale step and
           peak RSS of each

    flock /tmp/gramstyle-bench.lock python benchmarks/printsize.py ratio
    flock /tmp/gramstyle-bench.lock python benchmarks/printsize.py table --sizes 1024,2048
    python benchmarks/printsize.py run --size 4096 --out result.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "images"
CONTENT = IMAGES / "content" / "tubingen.jpg"
STYLE = IMAGES / "style" / "starry_night.jpg"

CHILD = r"""
import json, resource, statistics, sys, time
t0 = time.perf_counter()
import torch
import gramstyle
from gramstyle import Settings, Stylizer
from gramstyle.gatys.plan import estimate
from gramstyle.image import save_image
args = json.loads(sys.argv[1])
if args.get("threads"):
    torch.set_num_threads(args["threads"])
st = Stylizer(Settings(**args["settings"]))
prep = st.prepare(args["content"], args["style"])
plan = st.plan(prep)
est = st.estimate(prep, plan)
stages = [dict(size=s.size, steps=s.steps, tile=s.tile, history=s.history,
               history_dtype=s.history_dtype, style_tile=s.style_tile, memory=s.memory)
          for s in plan.stages]
times, last = [], None
start = time.perf_counter()
for rec in st.run(prep, plan):
    times.append((rec.scale, rec.elapsed))
    last = rec
run_s = time.perf_counter() - start
if args.get("output"):
    save_image(last.image, args["output"], overwrite=True)
k = last.scale
final = [t for s, t in times if s == k]
prev = [t for s, t in times if s < k]
d = [b - a for a, b in zip(final, final[1:])]  # steps after the stage's first
first = final[0] - (prev[-1] if prev else 0.0)
print(json.dumps({
    "wall": time.perf_counter() - t0, "run": run_s, "steps": len(times),
    "final_step_s": statistics.median(d) if d else first, "final_first_s": first,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "loss": last.loss, "precision": last.precision, "size": last.size, "plan": stages,
    "est_peak_mb": est.peak / 2**20, "est_s": est.seconds, "est_step_s": est.step_seconds[-1],
    "budget_mb": est.budget / 2**20,
}))
"""

# One final-scale step, tiled and one-pass, alternating in one process (same warm state).
CHILD_RATIO = r"""
import json, statistics, sys, time
import torch
from gramstyle import Settings, Stylizer
from gramstyle.image import resize
from gramstyle.gatys.objective import Objective
from gramstyle.gatys.optimize import make_optimizer
from gramstyle.gatys.targets import style_targets
from gramstyle.gatys.tiles import TiledObjective
args = json.loads(sys.argv[1])
st = Stylizer(Settings(**args["settings"]))
prep = st.prepare(args["content"], args["style"])
net, s = st.network(prep.settings), prep.settings
stage = st.plan(prep).stages[-1]
targets = style_targets(st, prep, stage.style_side, prep.dtype)
C = prep.content
one = Objective(net, s, C, prep.styles, dtype=prep.dtype, targets=targets)
tiled = {t: TiledObjective(net, s, C, prep.styles, dtype=prep.dtype, targets=targets, tile=t)
         for t in args["tiles"]}
x = C.clone()
def grad_s(ob):
    t0 = time.perf_counter(); ob.value_and_grad(x); return time.perf_counter() - t0
obs = {"one": one, **{f"tile{t}": ob for t, ob in tiled.items()}}
order = lambda r: list(obs) if r % 2 == 0 else list(obs)[::-1]  # noqa: E731
for ob in obs.values():
    grad_s(ob)  # warm-up
res = {k: {"grad": [], "step": []} for k in obs}
for r in range(args["repeats"]):
    for k in order(r):
        res[k]["grad"].append(grad_s(obs[k]))
# Whole L-BFGS steps with history: each objective runs its own optimiser from the same
# start (the trajectories agree to float rounding), two warm-up steps fill the history,
# then steps are timed alternating.
runs = {k: [make_optimizer("lbfgs", 1.0, history=stage.history), x] for k in obs}
for k, ob in obs.items():
    for _ in range(2):
        runs[k][1] = runs[k][0].step(runs[k][1], ob.value_and_grad)[1]
for r in range(args["step_repeats"]):
    for k in order(r):
        opt, y = runs[k]
        t0 = time.perf_counter()
        runs[k][1] = opt.step(y, obs[k].value_and_grad)[1]
        res[k]["step"].append(time.perf_counter() - t0)
info = {k: {"tiles": len(ob.grid), "area": ob.grid.area} for k, ob in tiled.items()}
print(json.dumps({"res": res, "pixels": C.shape[-1] * C.shape[-2], "info": info,
                  "precision": str(prep.dtype)}))
"""


def child(code: str, args: dict, src: str | None = None) -> dict:
    """Run ``code`` in a fresh process (gramstyle from ``src`` when given)."""
    env = {**os.environ, "PYTHONPATH": src} if src else None
    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    if r.returncode != 0:
        raise SystemExit(f"child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_args(ns: argparse.Namespace, size: int, **settings) -> dict:
    base = {"size": size, "precision": ns.precision, "seed": 0}
    if ns.steps_only:
        base.update(steps=ns.steps_only, coarse_steps=ns.steps_only)
    return {"content": str(ns.content), "style": str(ns.style), "settings": {**base, **settings}}


def machine() -> str:
    return (
        f"{platform.machine()}, Python {platform.python_version()}, "
        f"torch {__import__('torch').__version__}"
    )


def cmd_run(ns: argparse.Namespace) -> dict:
    settings = json.loads(ns.settings) if ns.settings else {}
    args = run_args(ns, ns.size, **settings)
    args["output"] = ns.out
    r = child(CHILD, args)
    print(json.dumps(r))
    return {"run": r}


def cmd_table(ns: argparse.Namespace) -> dict:
    rows = []
    for size in [int(v) for v in ns.sizes.split(",")]:
        for mode in ns.modes.split(","):
            if mode == "tiles":
                extra = {"max_memory": ns.max_memory}
                if ns.tile:
                    extra["tile"] = ns.tile
            else:  # one pass with today's L-BFGS memory: a budget nothing exceeds
                extra = {"max_memory": "1T"}
            args = run_args(ns, size, **extra)
            if ns.out_dir:  # the pictures, to look at
                ns.out_dir.mkdir(parents=True, exist_ok=True)
                args["output"] = str(ns.out_dir / f"{size}-{mode}.png")
            r = child(CHILD, args)
            rows.append((size, mode, r))
            print(json.dumps({"size": size, "mode": mode, **r}), file=sys.stderr, flush=True)
    print(
        f"\n{machine()}; precision {ns.precision}; content {ns.content.name}, style "
        f"{ns.style.name}; "
        + (f"{ns.steps_only} steps per scale" if ns.steps_only else "default step budgets")
        + "\n"
    )
    print(
        "| size | mode | final stage | tiles | history | peak RSS MB | est. MB | "
        "s/step (final) | est. s/step | total s | est. total s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, mode, r in rows:
        last = r["plan"][-1]
        h, w = last["size"]
        tile = last["tile"] or "one pass"
        print(
            f"| {size} | {mode} | {w}x{h} | {tile} | {min(last['history'], last['steps'])} "
            f"{last['history_dtype']} | {r['rss_mb']:.0f} | {r['est_peak_mb']:.0f} | "
            f"{r['final_step_s']:.1f} | {r['est_step_s']:.1f} | {r['run']:.0f} | "
            f"{r['est_s']:.0f} |"
        )
    return {
        "rows": [
            {**r, "size": size, "mode": mode, "final_size": r.get("size")} for size, mode, r in rows
        ]
    }


def cmd_ratio(ns: argparse.Namespace) -> dict:
    tiles = [int(v) for v in ns.tiles.split(",")]
    settings = {"size": ns.size, "precision": ns.precision}
    args = {
        "content": str(ns.content),
        "style": str(ns.style),
        "settings": settings,
        "tiles": tiles,
        "repeats": ns.repeats,
        "step_repeats": ns.step_repeats,
    }
    r = child(CHILD_RATIO, args)
    res = r["res"]
    base = statistics.median(res["one"]["grad"])
    base_step = statistics.median(res["one"]["step"])
    print(
        f"\n{machine()}; {ns.size} px ({r['pixels']} px), {r['precision']}; medians of "
        f"{ns.repeats} alternating J+gradient evaluations and {ns.step_repeats} alternating "
        "L-BFGS steps (after 2 warm-up steps)\n"
    )
    print("| objective | tiles | pixels computed | J+grad s | ratio | L-BFGS step s | ratio |")
    print("|---|---|---|---|---|---|---|")
    print(f"| one pass | 1 | 1.00x | {base:.2f} | 1.00 | {base_step:.2f} | 1.00 |")
    measured = [
        {
            "objective": "one pass",
            "tiles": 1,
            "pixels_computed": 1.0,
            "grad_s": res["one"]["grad"],
            "grad_ratio": 1.0,
            "step_s": res["one"]["step"],
            "step_ratio": 1.0,
        }
    ]
    for t in tiles:
        k = f"tile{t}"
        g, s = statistics.median(res[k]["grad"]), statistics.median(res[k]["step"])
        info = r["info"][str(t)]
        print(
            f"| tiles of {t} px | {info['tiles']} | {info['area'] / r['pixels']:.2f}x | "
            f"{g:.2f} | {g / base:.2f} | {s:.2f} | {s / base_step:.2f} |"
        )
        measured.append(
            {
                "objective": f"tiles of {t} px",
                "tiles": info["tiles"],
                "pixels_computed": info["area"] / r["pixels"],
                "grad_s": res[k]["grad"],
                "grad_ratio": g / base,
                "step_s": res[k]["step"],
                "step_ratio": s / base_step,
            }
        )
    results: dict = {
        "size": ns.size,
        "precision": r["precision"],
        "pixels": r["pixels"],
        "rows": measured,
    }
    if ns.image_steps:
        from gramstyle.image import load_image

        outs, tmp = {}, tempfile.mkdtemp(prefix="printsize-")  # /tmp is shared: own folder
        for label, extra in (("one", {}), ("tiled", {"tile": tiles[0]})):
            args = {
                "content": str(ns.content),
                "style": str(ns.style),
                "output": f"{tmp}/{label}.png",
                "settings": {
                    **settings,
                    **extra,
                    "steps": ns.image_steps,
                    "coarse_steps": ns.image_steps,
                },
            }
            outs[label] = child(CHILD, args)
        a, b = (load_image(f"{tmp}/{k}.png") for k in ("one", "tiled"))
        shutil.rmtree(tmp)
        mad = float((a - b).abs().mean())
        print(
            f"\nImages after {outs['one']['steps']} steps, one pass vs tiles of {tiles[0]} px: "
            f"mean |difference| = {mad * 255:.3f}/255 (max {float((a - b).abs().max()) * 255:.0f}"
            f"/255); J {outs['one']['loss']:.5g} vs {outs['tiled']['loss']:.5g}"
        )
        results["images"] = {
            "steps": outs["one"]["steps"],
            "tile": tiles[0],
            "mean_abs_diff_255": mad * 255,
            "max_abs_diff_255": float((a - b).abs().max()) * 255,
            "loss_one": outs["one"]["loss"],
            "loss_tiled": outs["tiled"]["loss"],
        }
    return results


CHILD_HISTORY = r"""
import json, sys, time, torch
from gramstyle import Settings, Stylizer
from gramstyle.image import load_image, resize
from gramstyle.gatys.objective import Objective
from gramstyle.gatys.optimize import make_optimizer
from gramstyle.gatys.targets import style_targets
from gramstyle.gatys.tiles import TiledObjective
args = json.loads(sys.argv[1])
st = Stylizer(Settings(**args["settings"]))
prep = st.prepare(args["content"], args["style"])
net, s = st.network(prep.settings), prep.settings
stage = st.plan(prep).stages[-1]
targets = style_targets(st, prep, stage.style_side, prep.dtype, stage.style_tile)
kw = dict(dtype=prep.dtype, targets=targets)
ob = (TiledObjective(net, s, prep.content, prep.styles, tile=stage.tile, **kw)
      if stage.tile else Objective(net, s, prep.content, prep.styles, **kw))
x0 = resize(load_image(args["start"]), prep.size).contiguous()
out = {}
for pairs, dt in args["variants"]:
    opt = make_optimizer("lbfgs", 1.0, history=pairs,
                         history_dtype=torch.bfloat16 if dt == "bf16" else None,
                         gamma=args.get("gamma"))
    x, best, Js = x0, float("inf"), []
    t0 = time.perf_counter()
    for _ in range(args["steps"]):
        c, x = opt.step(x, ob.value_and_grad)
        best = min(best, float(c.total)); Js.append(best)
    out[f"{pairs} {dt}"] = {"J": Js, "s": time.perf_counter() - t0}
print(json.dumps({"out": out, "tile": stage.tile}))
"""


def cmd_history(ns: argparse.Namespace) -> dict:
    variants = [(int(p), d) for p, d in (v.split(":") for v in ns.variants.split(","))]
    settings = {"size": ns.size, "precision": ns.precision, "max_memory": ns.max_memory}
    r = child(
        CHILD_HISTORY,
        {
            "content": str(ns.content),
            "style": str(ns.style),
            "settings": settings,
            "start": ns.start,
            "steps": ns.steps,
            "variants": variants,
        },
    )
    print(
        f"\n{machine()}; {ns.size} px, {ns.precision}, tiles of {r['tile']} px; L-BFGS "
        f"from {Path(ns.start).name} (the {ns.size // 2} px result, upsampled); best J\n"
    )
    marks = [k for k in (5, 10, 15, 20, 30, 40) if k <= ns.steps]
    print("| history | " + " | ".join(f"J after {k}" for k in marks) + " | s |")
    print("|---|" + "---|" * (len(marks) + 1))
    for name, v in r["out"].items():
        print(
            f"| {name} | "
            + " | ".join(f"{v['J'][k - 1]:.5g}" for k in marks)
            + f" | {v['s']:.0f} |"
        )
    return {"size": ns.size, "tile": r["tile"], "variants": r["out"]}


def cmd_before(ns: argparse.Namespace) -> dict:
    """A tiled run at ``--size`` with this tree and with ``--before REV``, alternating."""
    from benchmarks.revision import export_revision

    src = str(export_revision(ns.before))
    args = run_args(ns, ns.size, max_memory=ns.max_memory)
    rows = []
    for i in range(ns.repeats):
        for tree, where in ((f"@{ns.before}", src), ("this tree", None)):
            r = child(CHILD, args, src=where)
            rows.append({"tree": tree, "repeat": i, **r})
            print(f"{tree:>12} {r['final_step_s']:.1f} s/step {r['rss_mb']:.0f} MB", flush=True)
    return {"size": ns.size, "before": ns.before, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", type=Path, default=CONTENT)
    p.add_argument("--style", type=Path, default=STYLE)
    p.add_argument("--precision", default="auto")
    p.add_argument("--steps-only", type=int, default=0, metavar="N")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--size", type=int, default=1024)
    r.add_argument("--settings", default="", help="JSON of Settings fields")
    r.add_argument("--out", default="")
    t = sub.add_parser("table")
    t.add_argument("--sizes", default="1024,2048,4096")
    t.add_argument("--modes", default="tiles,one")
    t.add_argument("--max-memory", default="8G")
    t.add_argument("--tile", type=int, default=0)
    t.add_argument("--out-dir", type=Path, default=None, help="save each run's picture here")
    q = sub.add_parser("ratio")
    q.add_argument("--size", type=int, default=512)
    q.add_argument("--tiles", default="384,256")
    q.add_argument("--repeats", type=int, default=5)
    q.add_argument("--step-repeats", type=int, default=3)
    q.add_argument("--image-steps", type=int, default=10)
    h = sub.add_parser("history")
    h.add_argument("--size", type=int, default=2048)
    h.add_argument("--start", required=True, help="an image to start from (a coarser result)")
    h.add_argument("--steps", type=int, default=20)
    h.add_argument("--variants", default="5:fp32,10:bf16,10:fp32,20:bf16")
    h.add_argument("--max-memory", default="8G")
    b = sub.add_parser("before")
    b.add_argument("--size", type=int, default=2048)
    b.add_argument("--max-memory", default="3G")
    b.add_argument("--before", required=True, metavar="REV")
    b.add_argument("--repeats", type=int, default=3)
    ns = p.parse_args(argv)
    commands = {
        "run": cmd_run,
        "table": cmd_table,
        "ratio": cmd_ratio,
        "history": cmd_history,
        "before": cmd_before,
    }
    results = commands[ns.cmd](ns)
    from benchmarks import record

    record.write(
        "printsize",
        {"subcommand": ns.cmd, "options": vars(ns), **results},
        script=__file__,
        argv=argv,
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
