"""Fuzz gramstyle's edges for a while and print the counts (``tests/test_fuzz.py``, longer).

    nice -n 19 python scripts/fuzz.py --minutes 10 [--seed 0] [--out fuzz-failures/]

Cases are drawn from a seeded ``random.Random`` and spread over the targets in
``--mix``: mutated image bytes decoded from memory (``decode``), mutated files loaded
through the CLI's path (``file``), option parsing with settings validation
(``options``), ``Settings(**kwargs)`` with random values (``settings``) and layer lists
(``layers``). A case passes when it gives a valid result or one GramstyleError line,
writes nothing to stderr, raises no warning and ends within 20 s. Each failure's input
is saved under ``--out`` (``NNNN.bin`` or ``NNNN.json``) with the error, so it can be
replayed; the last lines are a markdown table of the counts. The image pixel limit is
lowered to ``--max-pixels`` (see ``fuzzing.FUZZ_MAX_PIXELS``) so a slow case is a hang.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "cli"))

import fuzzing  # noqa: E402  (tests/cli/fuzzing.py)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    ap.add_argument(
        "--mix",
        default="decode:6,file:1,options:2,settings:1,layers:1",
        help="target:weight,... (default: %(default)s)",
    )
    ap.add_argument(
        "--max-pixels",
        type=int,
        default=fuzzing.FUZZ_MAX_PIXELS,
        help="the image pixel limit while fuzzing (default: %(default)s)",
    )
    ap.add_argument("--case-seconds", type=int, default=30, help="a case past this is a hang")
    ns = ap.parse_args(argv)
    from gramstyle import decode as image

    image.MAX_PIXELS = ns.max_pixels

    import torch

    torch.set_num_threads(1)
    mix = [(t, float(w)) for t, w in (p.split(":") for p in ns.mix.split(","))]
    rng = random.Random(ns.seed)
    seeds = fuzzing.seeds()
    names = sorted(seeds)
    folder = Path(tempfile.mkdtemp(prefix="gramstyle-fuzz-"))
    counts: dict[str, Counter] = {t: Counter() for t, _ in mix}
    failures = 0
    slowest = 0.0
    deadline = time.monotonic() + 60 * ns.minutes
    t_start = time.monotonic()
    while time.monotonic() < deadline:
        target = rng.choices([t for t, _ in mix], [w for _, w in mix])[0]
        if target in ("decode", "file"):
            name = rng.choice(names)
            data = fuzzing.mutate(seeds[name], fuzzing.random_ops(rng))
            if rng.random() < 0.5:
                data = fuzzing.crc_fixed(data)
            case: object = {"seed": name, "bytes": len(data)}
        elif target == "options":
            tail = fuzzing.random_options(rng)
            case = {"argv": tail}
        elif target == "settings":
            kwargs = _random_kwargs(rng)
            case = {"kwargs": repr(kwargs)}
        else:
            text = "".join(
                rng.choice("relu12345_:,.-+eEinfa \x00") for _ in range(rng.randint(0, 40))
            )
            case = {"text": text}
        t0 = time.perf_counter()
        try:
            with fuzzing.time_limit(ns.case_seconds):
                if target == "decode":
                    result = fuzzing.check_decode(data)
                elif target == "file":
                    result = fuzzing.check_file(data, folder)
                elif target == "options":
                    result = fuzzing.check_options(tail)
                elif target == "settings":
                    result = fuzzing.check_settings(kwargs)
                else:
                    result = fuzzing.check_layers(text)
        except BaseException as e:  # noqa: BLE001 - every escape is a finding
            if isinstance(e, KeyboardInterrupt) and not isinstance(e, fuzzing.Hang):
                raise
            result = "FAILED"
            failures += 1
            ns.out.mkdir(parents=True, exist_ok=True)
            stem = ns.out / f"{failures:04d}-{target}"
            if target in ("decode", "file"):
                stem.with_suffix(".bin").write_bytes(data)
            info = {
                "target": target,
                "case": case,
                "error": f"{type(e).__name__}: {e}"[:500],
                "traceback": traceback.format_exc()[-2000:],
            }
            stem.with_suffix(".json").write_text(json.dumps(info, indent=1, default=str))
            print(f"FAIL {target} {case}: {type(e).__name__}: {str(e)[:200]}", flush=True)
        slowest = max(slowest, time.perf_counter() - t0)
        counts[target][result] += 1
    minutes = (time.monotonic() - t_start) / 60
    print(
        f"\n{sum(sum(c.values()) for c in counts.values())} cases in {minutes:.1f} min "
        f"(seed {ns.seed}), slowest case {slowest:.2f} s, {failures} failures\n"
    )
    print("| target | cases | valid | refused (one line) | skipped | failed |")
    print("|---|---|---|---|---|---|")
    for t, c in counts.items():
        print(
            f"| {t} | {sum(c.values())} | {c['ok']} | {c['refused']} | {c['skipped']} | "
            f"{c['FAILED']} |"
        )
    return 1 if failures else 0


def _random_kwargs(rng: random.Random) -> dict:
    import dataclasses

    from gramstyle.settings import Settings

    names = [f.name for f in dataclasses.fields(Settings)]
    pool = [
        None,
        True,
        False,
        0,
        -1,
        2**70,
        float("nan"),
        float("inf"),
        -0.0,
        1e300,
        3.5,
        "",
        "x",
        "lbfgs",
        "adam",
        "content",
        "noise",
        "adain",
        {},
        {"relu1_1": float("nan")},
        {"relu1_1": 1.0},
        {"": 1.0},
        [1, 2],
        b"bytes",
        512,
        128,
        0.5,
    ]
    kwargs = {}
    for _ in range(rng.randint(1, 4)):
        v = rng.choice(pool) if rng.random() < 0.7 else rng.uniform(-1e6, 1e6)
        kwargs[rng.choice(names)] = v
    return kwargs


if __name__ == "__main__":
    sys.exit(main())
