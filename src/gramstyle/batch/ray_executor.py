"""``--executor ray``: Ray Data ``map_batches`` over an actor pool, one network per actor.

The rows become a Ray dataset of one row per block; each actor (:class:`RayWorker`, a
:class:`~gramstyle.batch.work.Worker`, Ray Data's batch-inference pattern: the model is
loaded in ``__init__``, ``__call__`` takes a batch) does one row per call, and results
stream back to the driver as they finish, which alone writes ``results.jsonl``.

Why Ray Data rather than hand-made actors: its actor pool restarts an actor whose
process or node died and retries the call (``max_restarts=-1``, ``max_task_retries=-1``
are its defaults for pools), bounds what is in flight, and streams results. Rows are
idempotent (a retried row whose output was already written is ``skipped`` by its hash),
so a retry can never write a picture twice or half. One row per block keeps the unit
of retry one row.

Inputs and outputs are paths: on a multi-machine cluster they must be on storage every
node sees (a shared file system), as docs/batch.md says. Ray writes only under its
temp dir (``/tmp/ray``) and usage statistics are switched off.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Generator, Sequence
from typing import Any

from ..errors import GramstyleError
from .manifest import Row
from .work import BackboneFactory, RowHook, RowResult, Worker


class RayWorker:
    """A Ray Data actor: one :class:`Worker` (one network), one row per batch."""

    def __init__(self, threads: int, overwrite: bool, backbone, on_row) -> None:
        self.worker = Worker(threads, overwrite, backbone, on_row)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        rows = [Row.from_json(str(text)) for text in batch["row"]]
        return {"result": [self.worker(row).to_json() for row in rows]}


#: More blocks than this cost the driver more bookkeeping than retries save.
MAX_BLOCKS = 10_000

_AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


@functools.cache
def _process_token() -> str:
    # One token per process: Ray's C++ side caches the first token it reads, so a second
    # local Ray in the same process must get the same one.
    return secrets.token_hex(32)


def _restore(env: dict[str, str | None]) -> None:
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise GramstyleError(
            "--executor ray needs Ray Data: pip install 'gramstyle[batch]'"
        ) from None
    return ray


def _quiet_ray_data() -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the CLI draws its own bar over rows
    ctx.execution_options.preserve_order = False  # results as they finish
    ctx.print_on_execution_start = False


def run_ray(
    rows: Sequence[Row],
    workers: int | None = None,
    cpus: float = 1.0,
    gpus: float = 0.0,
    threads: int | None = None,
    address: str | None = None,
    overwrite: bool = False,
    backbone: BackboneFactory | None = None,
    on_row: RowHook | None = None,
) -> Generator[RowResult, None, None]:
    """Do ``rows`` on a Ray cluster with ``workers`` actors of ``cpus``/``gpus`` each.

    Connects to ``address`` (or ``RAY_ADDRESS``), or starts a local Ray for the batch
    and stops it after; an already initialised Ray is used as it is. ``workers``
    defaults to as many actors as the cluster's CPUs (or GPUs) hold; ``threads`` to
    ``cpus``.
    """
    if not rows:
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
    # Ray's own lines (start-up notes, per-dataset summaries) would break the CLI's bar;
    # they stay in Ray's session logs under its temp dir.
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    saved_env = {k: os.environ.get(k) for k in _AUTH_ENV}
    local = not (address or os.environ.get("RAY_ADDRESS")) and not any(saved_env.values())
    was_running = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    if local and not was_running:
        # A local Ray for this batch: keep token authentication on, but with a token
        # held in this process's environment (inherited by Ray's processes) instead of
        # the ~/.ray/auth_token file Ray would write. Set before Ray reads its config.
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=_process_token())
        if "ray" in sys.modules:  # imported earlier: make it read the environment again
            from ray._raylet import Config  # type: ignore[attr-defined]

            Config.initialize("")
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        on_sigterm = signal.getsignal(signal.SIGTERM)
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
            if threading.current_thread() is threading.main_thread() and on_sigterm is not None:
                # ray.init installs a C++ handler that aborts the driver on SIGTERM; give
                # SIGTERM back to Python (the CLI raises errors.Terminated: clean stop).
                signal.signal(signal.SIGTERM, on_sigterm)
        except BaseException as e:  # Ray raises bare Exceptions too (a node that timed out)
            with contextlib.suppress(Exception):
                ray.shutdown()  # what did start (agents, a raylet) must not outlive us
            _restore(saved_env)
            if not isinstance(e, Exception):
                raise  # Ctrl-C / SIGTERM while starting
            where = address or "local"
            raise GramstyleError(f"could not start or reach Ray at {where}: {e}") from None
        started = True
    try:
        for name in ("ray", "ray.data"):  # importing Ray set its loggers' levels
            logging.getLogger(name).setLevel(logging.ERROR)
        _quiet_ray_data()
        if workers is None:
            res = ray.cluster_resources()
            fit = res.get("GPU", 0) / gpus if gpus else res.get("CPU", 1) / max(cpus, 1e-9)
            workers = max(1, int(fit))
        workers = max(1, min(workers, len(rows)))
        # One row per block (the unit of retry) up to MAX_BLOCKS; past that a few rows
        # share a block, and a retried block skips its finished rows by their hash.
        ds = ray.data.from_items(
            [{"row": row.to_json()} for row in rows], override_num_blocks=min(len(rows), MAX_BLOCKS)
        )
        ds = ds.map_batches(
            RayWorker,
            fn_constructor_kwargs={
                "threads": threads or max(1, int(cpus)),
                "overwrite": overwrite,
                "backbone": backbone,
                "on_row": on_row,
            },
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus,
            num_gpus=gpus,
        )
        # One row per batch and no prefetch: iter_rows() would hold each result back
        # until the next one is ready, so the bar and results.jsonl would lag a row.
        for batch in ds.iter_batches(batch_size=1, prefetch_batches=0, batch_format="numpy"):
            for text in batch["result"]:
                yield RowResult.from_json(str(text))
    finally:
        if started:
            ray.shutdown()
            _restore(saved_env)
