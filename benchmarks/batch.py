"""Throughput of ``gramstyle batch``: local and Ray executors, 1 and 2 workers, AdaIN and Gatys.

    python benchmarks/batch.py [--only adain,gatys] [--configs local:1,local:2,ray:1,ray:2]
                               [--rows N] [--precision fp32]

Each (workload, executor, workers) runs the same manifest into a fresh folder through
:func:`gramstyle.batch.run_batch`, so the wall time includes starting the workers (and
Ray), loading the network once per worker, and writing the PNGs. Printed per row:
images per minute over the whole batch, the time to the first finished image
(start-up), the images per minute after it (steady state), and whether every output is
pixel-identical to the first configuration's. Workers split the machine's cores
(1 worker: all cores as torch threads; 2 workers: cores / 2 each; Ray actors reserve
that many CPUs). Workloads, on the shared test images (2 photos x 3 paintings):

- ``adain``: 12 rows (6 pairs x alpha 1 and 0.7), 512 px, the real AdaIN decoder.
- ``gatys``: 6 rows, 256 px, pyramid from 128 px, 10 coarse + 40 final L-BFGS steps.

Both in fp32 unless ``--precision`` says otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

IMAGES = ROOT.parent / "shared" / "images"
CONTENTS = ("tubingen.jpg", "golden_gate.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")

WORKLOADS = {
    "adain": dict(method="adain", size=512),
    "gatys": dict(method="gatys", size=256, min_size=128, coarse_steps=10, steps=40),
}


def manifest(folder: Path, workload: str) -> Path:
    """The workload's manifest CSV in ``folder``."""
    rows = ["content,style,output,alpha"]
    alphas = (1.0, 0.7) if workload == "adain" else (1.0,)
    for (c, s), a in itertools.product(itertools.product(CONTENTS, STYLES), alphas):
        name = f"{Path(c).stem}__{Path(s).stem}__a{a:g}.png"
        rows.append(f"{IMAGES / 'content' / c},{IMAGES / 'style' / s},{name},{a}")
    path = folder / f"{workload}.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def run_one(
    workload: str, executor: str, workers: int, folder: Path, precision: str, limit: int = 0
) -> dict:
    from gramstyle.batch import read_manifest, run_batch
    from gramstyle.batch.local import machine_cores
    from gramstyle.image import load_image
    from gramstyle.settings import Settings

    cores = machine_cores()
    threads = max(1, cores // workers)
    out = folder / f"{workload}-{executor}-{workers}"
    base = Settings(**WORKLOADS[workload], precision=precision, device="cpu")
    jobs = read_manifest(manifest(folder, workload), out, base)
    jobs = jobs[:limit] if limit else jobs
    t0 = time.perf_counter()
    stamps = []
    for r in run_batch(
        jobs, out, executor, workers, threads=threads, cpus_per_worker=float(threads)
    ):
        if r.status != "done":
            raise SystemExit(f"row {r.row} {r.status}: {r.error}")
        stamps.append(time.perf_counter() - t0)
    n, wall, first = len(stamps), stamps[-1], stamps[0]
    return {
        "workload": workload,
        "executor": executor,
        "workers": workers,
        "threads": threads,
        "images": n,
        "wall": wall,
        "per_min": 60 * n / wall,
        "first": first,
        "steady": 60 * (n - 1) / (wall - first) if n > 1 and wall > first else float("nan"),
        "outputs": {p.name: load_image(p) for p in sorted(out.glob("*.png"))},
    }


def same_pixels(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="adain,gatys", help="workloads, comma-separated")
    ap.add_argument(
        "--configs", default="local:1,local:2,ray:1,ray:2", help="executor:workers, comma-separated"
    )
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--rows", type=int, default=0, help="only the first N rows of each workload")
    args = ap.parse_args(argv)
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]
    rows = []
    # Each row is printed as soon as it is measured (a long run stopped early keeps them).
    print(
        "| workload | executor | workers x threads | images | wall s | images/min | "
        "start-up s | steady images/min | same pixels as first |",
        flush=True,
    )
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="gramstyle-bench-batch-") as tmp:
        for workload in args.only.split(","):
            for executor, workers in configs:
                r = run_one(workload, executor, workers, Path(tmp), args.precision, args.rows)
                rows.append(r)
                ref = next(x for x in rows if x["workload"] == r["workload"])
                same = "yes" if same_pixels(r["outputs"], ref["outputs"]) else "no"
                r["same_pixels"] = "(reference)" if r is ref else same
                print(
                    f"| {r['workload']} | {r['executor']} | {r['workers']} x {r['threads']} | "
                    f"{r['images']} | {r['wall']:.1f} | {r['per_min']:.2f} | "
                    f"{r['first']:.1f} | {r['steady']:.2f} | {same} |",
                    flush=True,
                )
    print()
    for workload in args.only.split(","):
        for w in sorted({c[1] for c in configs}):
            pick = {
                r["executor"]: r for r in rows if (r["workload"], r["workers"]) == (workload, w)
            }
            if {"local", "ray"} <= pick.keys():
                loc, ray = pick["local"], pick["ray"]
                print(
                    f"- {workload}, {w} worker(s): wall Ray/local "
                    f"{ray['wall'] / loc['wall']:.2f}, steady throughput Ray/local "
                    f"{ray['steady'] / loc['steady']:.2f}"
                )
    from benchmarks import record

    kept = [{k: v for k, v in r.items() if k != "outputs"} for r in rows]
    record.write(
        "batch",
        {"options": vars(args), "precision": args.precision, "rows": kept},
        script=__file__,
        argv=argv,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
