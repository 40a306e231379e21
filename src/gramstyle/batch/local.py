"""``--executor local``: a pool of worker processes on this machine, one network each.

Processes are *spawned* (not forked): torch's thread pools are not safe to fork once
used, and a spawned worker starts clean. Each worker builds one :class:`Worker` in its
initializer and keeps it, so the network is loaded once per process. Workers ignore
SIGINT (a Ctrl-C in a terminal reaches the whole process group; the parent alone
decides to stop) and turn SIGTERM into :class:`~gramstyle.errors.Terminated`, so a
stopped worker unwinds and removes its temporary file.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .manifest import Row
from .work import FAILED, BackboneFactory, RowHook, RowResult, Worker

_worker: Worker | None = None


def _on_sigterm(signum, frame) -> None:
    from ..errors import Terminated

    if _busy:
        raise Terminated  # unwind the row: its temporary file is removed
    os._exit(143)  # idle: nothing to clean up, and no traceback from the pool's loop


def _init(
    threads: int, overwrite: bool, backbone: BackboneFactory | None, on_row: RowHook | None
) -> None:
    import signal

    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _die_with_parent()
    _worker = Worker(threads, overwrite, backbone, on_row)


_busy = False


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies (even by SIGKILL), so no worker is orphaned."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(143)


def _do(row: Row) -> RowResult:
    global _busy
    assert _worker is not None
    _busy = True
    try:
        return _worker(row)
    except KeyboardInterrupt:
        # Stopped mid-row (the row's temporary file is gone by now): leave at once
        # rather than go back to the pool's queue, which may have no reader any more.
        os._exit(143)
    finally:
        _busy = False


def machine_cores() -> int:
    """Cores this process may use (its affinity mask, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_local(
    rows: Sequence[Row],
    workers: int | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    backbone: BackboneFactory | None = None,
    on_row: RowHook | None = None,
) -> Generator[RowResult, None, None]:
    """Do ``rows`` in ``workers`` processes (default: one per core); yield as they finish.

    ``threads`` per worker defaults to the cores divided among the workers. If a worker
    process dies (killed, out of memory), the pool is rebuilt and the rows it was
    holding are tried again; a row that takes down a pool twice fails.
    """
    cores = machine_cores()
    n = max(1, min(workers or cores, len(rows) or 1))
    threads = threads or max(1, cores // n)
    pending = deque(rows)
    tries: dict[int, int] = {}
    while pending:
        pool = ProcessPoolExecutor(
            n, multiprocessing.get_context("spawn"), _init, (threads, overwrite, backbone, on_row)
        )
        futures: dict[Future, Row] = {}
        clean = broken = False
        try:
            while pending or futures:
                # At most 2 rows per worker queued: an interrupt leaves little to cancel.
                while pending and len(futures) < 2 * n:
                    row = pending.popleft()
                    futures[pool.submit(_do, row)] = row
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                lost = []
                for fut in finished:
                    row = futures.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        lost.append(row)
                if lost:  # every row in flight is lost with the pool: retry them
                    broken = True
                    lost += futures.values()
                    futures.clear()
                    for row in sorted(lost, key=lambda j: j.row, reverse=True):
                        tries[row.row] = tries.get(row.row, 0) + 1
                        if tries[row.row] >= 2:
                            why = "its worker process died twice"
                            yield RowResult(
                                row.row,
                                row.output,
                                FAILED,
                                why,
                                0.0,
                                content=row.content,
                                styles=row.styles,
                            )
                        else:
                            pending.appendleft(row)
                    break
            clean = not broken
        finally:
            if clean:
                pool.shutdown(wait=True)
            else:
                _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and stop the workers now (rows in flight are abandoned)."""
    # A plain shutdown waits for running rows (minutes); ask the workers to stop instead.
    # ProcessPoolExecutor has no public terminate before Python 3.14.
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
            p.join()
