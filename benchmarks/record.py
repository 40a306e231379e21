"""One JSON record per benchmark run, so every published figure can be traced.

A benchmark calls :func:`write` once, at the end, with what it measured::

    from benchmarks import record
    record.write("speed", {"rows": rows}, script=__file__, argv=argv)

and gets ``benchmarks/results/<name>-<UTC time>.json``::

    {"schema": 1, "name": "speed", "command": "python benchmarks/speed.py --sizes 256",
     "date": "2026-12-07T04:58:21Z", "commit": {"sha": "a59f983...", "dirty": false},
     "machine": {"model": "AMD EPYC", "cores": 2, "threads": 2, "flags": {"avx2": true, ...}},
     "software": {"python": "3.11.2", "torch": "2.13.0+cpu", "onnxruntime": "1.32.0", ...},
     "env": {"ONEDNN_MAX_CPU_ISA": null, "OMP_NUM_THREADS": null, ...},
     "load": [0.4, 0.6, 0.7], "results": {...}}

``machine.flags`` are the hardware's (``lscpu``); a run under ``benchmarks/avx2.py``
saw only AVX2 and says so in ``env.GRAMSTYLE_BENCH_ISA`` (and
``software.torch_cpu_capability``).

``scripts/tables.py`` makes the tables of ``docs/benchmarks.md`` from these files, so a
table cannot disagree with its records. Commit the record with the page.
``GRAMSTYLE_BENCH_RECORDS=DIR`` sends records elsewhere (a trial run that should not be
published). Standard library only: a record is written even where the package is not
importable.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FOLDER_ENV = "GRAMSTYLE_BENCH_RECORDS"
SCHEMA = 1
#: CPU features that decide which kernels run (``amx`` is any of amx_tile/bf16/int8).
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx")
#: Variables that change what a run measures: instruction sets and thread counts.
ENV = (
    "GRAMSTYLE_BENCH_ISA",  # "avx2": the run saw an AVX2-only CPU (benchmarks/avx2.py)
    "ONEDNN_MAX_CPU_ISA",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
    "FBGEMM_ENABLE_INSTRUCTIONS",
)
PACKAGES = ("torch", "onnxruntime", "gramstyle")


def _lscpu_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def machine(lscpu: str | None = None, cpuinfo: str | None = None) -> dict[str, Any]:
    """The CPU a run measured: ``lscpu``'s model name, cores, threads and the flags
    that matter (:data:`FLAGS`), and the memory. ``lscpu``/``cpuinfo`` are their
    outputs' text (for tests); by default they are read from this machine.

    >>> m = machine(lscpu="Model name: Some CPU\\nCPU(s): 4\\nThread(s) per core: 2\\n"
    ...             "Core(s) per socket: 2\\nSocket(s): 1\\nFlags: fpu avx2 amx_tile")
    >>> m["model"], m["cores"], m["threads"], m["flags"]["amx"], m["flags"]["avx512f"]
    ('Some CPU', 2, 4, True, False)
    """
    if lscpu is None:
        try:
            lscpu = subprocess.run(
                ["lscpu"],
                capture_output=True,
                text=True,
                timeout=10,
                env={**os.environ, "LC_ALL": "C"},
            ).stdout
        except (OSError, subprocess.SubprocessError):
            lscpu = ""
    fields = _lscpu_fields(lscpu)
    if cpuinfo is None and ("Flags" not in fields or "Model name" not in fields):
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    info = _lscpu_fields(cpuinfo or "")
    flags = set((fields.get("Flags") or info.get("flags", "")).split())
    threads = _int(fields.get("CPU(s)")) or os.cpu_count()
    per_core = _int(fields.get("Thread(s) per core"))
    sockets = _int(fields.get("Socket(s)")) or 1
    per_socket = _int(fields.get("Core(s) per socket"))
    if per_socket:
        cores: int | None = per_socket * sockets
    else:
        cores = threads // per_core if threads and per_core else None
    return {
        "model": fields.get("Model name") or info.get("model name") or platform.processor(),
        "arch": platform.machine(),
        "cores": cores,
        "threads": threads,
        "flags": {
            f: (any(g.startswith("amx") for g in flags) if f == "amx" else f in flags)
            for f in FLAGS
        },
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
    }


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def commit(root: Path = ROOT) -> dict[str, Any]:
    """The checked-out commit, and whether tracked files differ from it (``dirty``)."""

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": None if status is None else bool(status)}


def software() -> dict[str, str | None]:
    """Python's version and those of the packages whose speed is measured."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    torch = sys.modules.get("torch")  # only if the benchmark loaded it: never import it here
    if torch is not None:
        out["torch_threads"] = str(torch.get_num_threads())
        # The kernels torch chose (AVX2 under benchmarks/avx2.py, whatever lscpu says).
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return out


def command_line(script: str | os.PathLike[str] | None, argv: Sequence[str] | None) -> str:
    """``python <script relative to the repository> <args>``, quoted for a shell.

    ``argv`` is what the benchmark's ``main(argv)`` parsed (None: this process's).

    >>> command_line(ROOT / "benchmarks" / "speed.py", ["--sizes", "256", "a b"])
    "python benchmarks/speed.py --sizes 256 'a b'"
    """
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(script if script is not None else sys.argv[0]).resolve()
    try:
        shown = str(path.relative_to(ROOT))
    except ValueError:
        shown = str(path)
    return shlex.join(["python", shown, *args])


def plain(value: Any) -> Any:
    """``value`` as strict JSON: tuples as lists, paths as text, NaN and infinities as
    None (JSON has no such numbers), anything else unknown as its ``str``.

    >>> plain({"a": (1.5, float("nan")), 2: Path("x")})
    {'a': [1.5, None], '2': 'x'}
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # a numpy or torch scalar
        try:
            return plain(value.item())
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


def make(
    name: str,
    results: Mapping[str, Any],
    *,
    script: str | os.PathLike[str] | None = None,
    argv: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The record of one run of benchmark ``name`` (see the module docstring)."""
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "schema": SCHEMA,
        "name": name,
        "command": command_line(script, argv),
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit(),
        "machine": machine(),
        "software": software(),
        "env": {k: os.environ.get(k) for k in ENV},
        "load": load,
        "results": plain(results),
    }


def write(
    name: str,
    results: Mapping[str, Any],
    *,
    script: str | os.PathLike[str] | None = None,
    argv: Sequence[str] | None = None,
    folder: str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Write the record of one run to ``folder/<name>-<UTC time>.json`` and return the
    path (``folder``: ``$GRAMSTYLE_BENCH_RECORDS``, else ``benchmarks/results``; ``path``
    names the file instead). A record is never overwritten: a second one in the same
    second gets ``-2``, ``-3``... The file appears whole (written aside, then renamed).
    """
    rec = make(name, results, script=script, argv=argv, now=now)
    if path is not None:
        target = Path(path)
    else:
        base = Path(folder or os.environ.get(FOLDER_ENV) or RESULTS)
        stamp = dt.datetime.strptime(rec["date"], "%Y-%m-%dT%H:%M:%SZ").strftime("%Y%m%d-%H%M%S")
        target = base / f"{name}-{stamp}.json"
        n = 2
        while target.exists():
            target = base / f"{name}-{stamp}-{n}.json"
            n += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(rec, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, target)
    print(f"record: {target}", file=sys.stderr)
    return target
