"""Run a batch: every row once, results appended to ``OUTDIR/results.jsonl`` as they come."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import time
import uuid
from collections.abc import Generator, Sequence
from pathlib import Path

from ..errors import GramstyleError
from ..fs import temp_prefix, write_error
from .manifest import Row, check_outputs
from .status import EXECUTORS, FAILED, RESULTS
from .work import RowResult

#: Where a cut last line of the results file is moved: ``results.jsonl.cut``.
CUT = ".cut"


def _append_line(path: Path, line: str) -> None:
    """Append one line with a single ``write`` on an O_APPEND file (lines never interleave).

    A write cut short (a full disk) is taken back, so the file never ends in half a
    line; the error is one line (:class:`~gramstyle.errors.DiskFull` when out of room).
    """
    data = (line.rstrip("\n") + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise write_error(path, e) from None
    finally:
        os.close(fd)


def repair_results(path: Path) -> str | None:
    """Make ``path`` end with a whole line before a run appends to it.

    A crash mid-write can leave the last line cut. A cut line that is still whole JSON
    only lacks its newline, which is added; anything else is moved to ``path.cut``
    (appended, so nothing is ever lost) and cut from ``path``. Returns what was moved.
    """
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            if end == 0:
                return None
            f.seek(max(0, end - 1))
            if f.read(1) == b"\n":
                return None
            f.seek(0)
            data = f.read()
    except FileNotFoundError:
        return None
    start = data.rfind(b"\n") + 1
    tail = data[start:]
    try:
        json.loads(tail)
        whole = True
    except ValueError:
        whole = False
    try:
        if whole:
            with open(path, "ab") as f:
                f.write(b"\n")
            return None
        with open(path.with_name(path.name + CUT), "ab") as f:
            f.write(tail + b"\n")
        os.truncate(path, start)
    except OSError as e:
        raise write_error(path, e) from None
    return tail.decode(errors="replace")


def read_results(outdir: str | os.PathLike) -> list[dict]:
    """Every line of ``OUTDIR/results.jsonl`` (all runs), skipping a line cut by a crash."""
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
) -> Generator[RowResult, None, None]:
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
    check_outputs(rows, "the batch")
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    repair_results(results)
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
