"""Run a batch: every row once, results appended to ``OUTDIR/results.jsonl`` as they come."""

from __future__ import annotations

import glob
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import GramstyleError
from ..fs import temp_prefix
from .manifest import Row
from .status import EXECUTORS, FAILED, RESULTS
from .work import RowResult


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


def _remove_stale_temporaries(rows: Sequence[Row]) -> None:
    # save_image writes "<temp_prefix(NAME)><random>.tmp" beside NAME; a worker killed
    # outright (SIGKILL, a lost node) leaves one behind. Only names of this batch's outputs.
    for row in rows:
        if row.output:
            out = Path(row.output)
            for tmp in out.parent.glob(f"{glob.escape(temp_prefix(out.name))}*.tmp"):
                tmp.unlink(missing_ok=True)


def run_batch(
    rows: Sequence[Row],
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
    """Do ``rows``; yield a :class:`RowResult` per row as it finishes, in any order.

    Each result is appended to ``OUTDIR/results.jsonl`` (with a ``run`` id and a
    ``time``) before it is yielded. ``executor`` is ``local`` (processes on this
    machine; see :func:`gramstyle.batch.local.run_local`) or ``ray`` (see
    :func:`gramstyle.batch.ray_executor.run_ray`). Rows that were refused while
    reading the manifest are yielded ``failed`` without reaching a worker.
    ``backbone(settings)`` replaces the network loader; ``on_row(row)`` runs before
    each row is computed. Both must be picklable (Ray pickles them by reference).
    """
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
    _remove_stale_temporaries(rows)

    def record(r: RowResult) -> RowResult:
        line = {
            "run": run_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **json.loads(r.to_json()),
        }
        _append_line(results, json.dumps(line))
        return r

    bad = [j for j in rows if j.error is not None]
    good = [j for j in rows if j.error is None]
    for row in bad:
        yield record(
            RowResult(
                row.row, row.output, FAILED, row.error, 0.0, content=row.content, styles=row.styles
            )
        )
    if not good:
        return
    if executor == "local":
        from .local import run_local

        stream = run_local(good, workers, threads, overwrite, backbone, on_row)
    else:
        from .ray_executor import run_ray

        stream = run_ray(
            good,
            workers,
            cpus_per_worker,
            gpus_per_worker,
            threads,
            ray_address,
            overwrite,
            backbone,
            on_row,
        )
    try:
        for r in stream:
            yield record(r)
    finally:
        stream.close()  # stop the workers now, also when the caller stops early
