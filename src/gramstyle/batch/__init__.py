"""Batch work: many (content, styles, settings) rows, each done once, surviving restarts.

>>> from gramstyle.batch import default_output_name
>>> default_output_name("photos/cat.jpg", ["styles/starry.jpg"])
'cat__starry.png'

In Python::

    jobs = read_manifest("batch.csv", "out")          # or pairs("photos", "styles", "out")
    for result in run_batch(jobs, "out", workers=2):   # RowResult per row, as they finish
        print(result.row, result.status, result.error)

``run_batch`` appends one JSON line per row to ``OUTDIR/results.jsonl``. Rows whose
output already holds the same inputs+settings hash are ``skipped``; a rerun after a
crash or Ctrl-C does only what is missing.
"""

from __future__ import annotations

import glob
import importlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GramstyleError

DONE, SKIPPED, FAILED = "done", "skipped", "failed"  # a row's status

# Imported on first use, so the CLI builds its parser without PIL or torch.
_LAZY = {
    **dict.fromkeys(("Job", "ManifestError", "default_output_name", "pairs", "read_manifest"),
                    "manifest"),
    **dict.fromkeys(("RowResult", "Worker", "job_hash"), "work"),
}  # fmt: skip

if TYPE_CHECKING:
    from .manifest import Job, ManifestError, default_output_name, pairs, read_manifest
    from .work import RowResult, Worker, job_hash


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gramstyle.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DONE",
    "EXECUTORS",
    "FAILED",
    "RESULTS",
    "SKIPPED",
    "Job",
    "ManifestError",
    "RowResult",
    "Worker",
    "default_output_name",
    "job_hash",
    "pairs",
    "read_manifest",
    "read_results",
    "run_batch",
]

RESULTS = "results.jsonl"
EXECUTORS = ("local", "ray")


def _append_line(path: Path, line: str) -> None:
    """Append one line with a single ``write`` on an O_APPEND file (lines never interleave)."""
    data = (line.rstrip("\n") + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_results(outdir: str | os.PathLike) -> list[dict]:
    """Every line of ``OUTDIR/results.jsonl`` (all runs), skipping a torn last line."""
    import json

    path = Path(outdir) / RESULTS
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash mid-write
    return out


def _remove_stale_temporaries(jobs: Sequence[Job]) -> None:
    # save_image writes "<temp_prefix(NAME)><random>.tmp" beside NAME; a worker killed
    # outright (SIGKILL, a lost node) leaves one behind. Only names of this batch's outputs.
    from ..validate import temp_prefix

    for job in jobs:
        if job.output:
            out = Path(job.output)
            for tmp in out.parent.glob(f"{glob.escape(temp_prefix(out.name))}*.tmp"):
                tmp.unlink(missing_ok=True)


def run_batch(
    jobs: Sequence[Job],
    outdir: str | os.PathLike,
    executor: str = "local",
    workers: int | None = None,
    *,
    threads: int | None = None,
    overwrite: bool = False,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    ray_address: str | None = None,
    backbone=None,
    on_row=None,
) -> Iterator[RowResult]:
    """Do ``jobs``; yield a :class:`RowResult` per row as it finishes, in any order.

    Each result is appended to ``OUTDIR/results.jsonl`` (with a ``run`` id and a
    ``time``) before it is yielded. ``executor`` is ``local`` (processes on this
    machine; see :func:`gramstyle.batch.local.run_local`) or ``ray`` (see
    :func:`gramstyle.batch.ray_executor.run_ray`). Rows that were refused while
    reading the manifest are yielded ``failed`` without reaching a worker.
    ``backbone(settings)`` replaces the network loader; ``on_row(job)`` runs before
    each row is computed. Both must be picklable (Ray pickles them by reference).
    """
    import json

    from .work import RowResult

    if executor not in EXECUTORS:
        raise GramstyleError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and workers < 1:
        raise GramstyleError(f"workers must be at least 1, got {workers}")
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise GramstyleError(f"output folder {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    _remove_stale_temporaries(jobs)

    def record(r: RowResult) -> RowResult:
        line = {
            "run": run_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **json.loads(r.to_json()),
        }
        _append_line(results, json.dumps(line))
        return r

    bad = [j for j in jobs if j.error is not None]
    good = [j for j in jobs if j.error is None]
    for job in bad:
        yield record(RowResult(job.row, job.output, FAILED, job.error, 0.0,
                               content=job.content, styles=job.styles))  # fmt: skip
    if not good:
        return
    if executor == "local":
        from .local import run_local

        stream = run_local(good, workers, threads, overwrite, backbone, on_row)
    else:
        from .ray_executor import run_ray

        stream = run_ray(good, workers, cpus_per_worker, gpus_per_worker, threads, ray_address,
                         overwrite, backbone, on_row)  # fmt: skip
    try:
        for r in stream:
            yield record(r)
    finally:
        stream.close()  # stop the workers now, also when the caller stops early
