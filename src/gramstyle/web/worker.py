"""The worker process: loads the network once, then runs tasks one at a time.

A task is a job id and its folder, received on the worker's own pipe; progress goes
back on it as small messages (``(kind, job_id, event, data)``) and images go to the job
folder, written atomically (``preview.jpg`` at most every ``preview_every`` seconds,
``result.png`` at the end). Cancel is a flag the server sets in shared memory; it is
checked between optimiser steps, so a run stops within one step (stopping the
iteration is how a run is stopped). A write that fails (disk full, the folder deleted)
fails the task with the reason, never the worker.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .. import presets
from ..errors import GramstyleError, out_of_memory
from ..fs import os_reason
from ..image import save_image
from ..insight.report import command_line, explain
from ..session import Stylizer
from ..settings import Settings

log = logging.getLogger("gramstyle.web")

STYLIZE, EXPLAIN = "stylize", "explain"


@dataclass(frozen=True)
class Task:
    kind: str  # STYLIZE or EXPLAIN
    job_id: str
    folder: str
    settings: dict[str, Any]  # Settings fields
    styles: int
    blend: list[float] | None = None
    labels: bool = False  # the folder holds label maps (store.Job.labels)

    def inputs(self) -> tuple[Path, list[Path]]:
        folder = Path(self.folder)
        return folder / "content.png", [
            folder / f"style_{k}.png" for k in range(1, self.styles + 1)
        ]

    def label_maps(self) -> dict[str, Any]:
        """``content_labels``/``style_labels`` for :meth:`Stylizer.job` (None: none)."""
        if not self.labels:
            return {"content_labels": None, "style_labels": None}
        folder = Path(self.folder)
        return {
            "content_labels": folder / "content_labels.png",
            "style_labels": [folder / f"style_labels_{k}.png" for k in range(1, self.styles + 1)],
        }


def eta_seconds(rec: Any, stages: Sequence[Any]) -> float | None:
    """Seconds left, from the time spent so far and the work left.

    Work is counted in pixel-steps of the plan's stages (a step at twice the side costs
    four times as much), so the coarse scales' quick steps do not make the estimate
    optimistic; each counts the steps it is expected to take (re-estimated by the
    record: :meth:`~gramstyle.method.Record.scale_steps`). ``rec`` is a
    :class:`~gramstyle.method.Record`, ``stages`` its plan's (each with ``expected``
    and ``pixels``).

    >>> from types import SimpleNamespace as R
    >>> stages = [R(expected=10, pixels=64 * 64), R(expected=10, pixels=128 * 128)]
    >>> eta_seconds(R(scale=0, step=10, elapsed=2.0, scale_steps=list), stages)  # 1/5 done
    8.0
    """
    if not stages:
        return None
    steps = rec.scale_steps([st.expected for st in stages])
    work = [n * st.pixels for n, st in zip(steps, stages, strict=True)]
    done = sum(work[: rec.scale]) + rec.step * stages[rec.scale].pixels
    if done <= 0:
        return None
    return max(0.0, rec.elapsed * (sum(work) - done) / done)


Send = Callable[[str, dict[str, Any]], None]


def run_stylize(
    task: Task, session: Stylizer, send: Send, cancelled: Callable[[], bool], every: float
) -> None:
    """Run one stylisation; events: step..., then done, cancelled or failed."""
    folder = Path(task.folder)
    content, styles = task.inputs()
    job = session.job(
        content, list(styles), Settings(**task.settings), blend=task.blend, **task.label_maps()
    )
    previews, shown = 0, -math.inf
    for rec in job.records():
        if rec.done == rec.total or time.monotonic() - shown >= every:
            save_image(rec.image, folder / "preview.jpg", overwrite=True)
            previews, shown = previews + 1, time.monotonic()
        send(
            "step",
            {
                "done": rec.done,
                "total": rec.total if rec.expected is None else rec.expected,
                "loss": rec.costs().get("J"),
                "elapsed": rec.elapsed,
                "eta": eta_seconds(rec, job.plan.stages),
                "scale": rec.scale,
                "scales": rec.scales,
                "size": list(rec.size),
                "preview": previews,
            },
        )
        if cancelled():  # between steps: stopping the iteration stops the run
            send("cancelled", {})
            return
    if job.last is None:
        raise GramstyleError("nothing to do: steps and coarse_steps are 0")
    job.save(folder / "result.png", overwrite=True)
    send("done", {"size": list(job.last.size), "elapsed": job.last.elapsed})


def run_explain(task: Task, session: Stylizer, send: Send) -> None:
    """Write the job's explain report (first style, the report's small defaults)."""
    s = Settings(**task.settings).replace(**presets.EXPLAIN)
    content, styles = task.inputs()
    out = Path(task.folder) / "explain"
    # The command shown in the report names the job's files, not the server's paths.
    command = command_line(
        "content.png",
        "style_1.png",
        "explain",
        s,
        presets.EXPLAIN_LAYER_SIZE,
        presets.EXPLAIN_LAYER_STEPS,
    )
    explain(
        content, styles[0], out, s, backbone=session.network(s), overwrite=True, command=command
    )
    send("done", {})


def _describe(e: BaseException) -> str:
    if isinstance(e, GramstyleError):
        return str(e)
    if out_of_memory(e):
        return "the worker ran out of memory; try a smaller size"
    if isinstance(e, OSError):
        where = f" ({e.filename})" if e.filename else ""
        return f"{os_reason(e)}{where}"
    return f"internal error ({type(e).__name__}: {e})"


class _ServerGone(BaseException):
    """The server's end of the pipe is closed: nobody is left to work for."""


def worker_main(
    index: int,
    conn: Connection,
    cancel: Any,  # a shared byte (multiprocessing RawValue), set by the server to stop
    base: Settings,
    threads: int,
    preview_every: float,
) -> None:
    """Entry point of a worker process (spawned). Returns on ``None`` or when orphaned."""
    import torch

    # Ctrl-C in the terminal reaches the whole process group: the server decides when
    # workers stop (it cancels, then sends None), so they ignore SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    parent = multiprocessing.parent_process()
    # The session: the network loaded once (now, not during the first job) and each
    # style's targets cached, so a popular style is analysed once per worker.
    session = Stylizer(base)
    try:
        session.network(base)
    except GramstyleError as e:
        log.warning("weights: %s", e)  # every job will report it

    def orphaned() -> bool:
        return parent is not None and not parent.is_alive()

    try:
        while True:
            try:
                if not conn.poll(1.0):
                    if orphaned():
                        return  # the server was killed: do not linger
                    continue
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            _run_task(task, session, conn, lambda: bool(cancel.value) or orphaned(), preview_every)
    except _ServerGone:
        return


def _run_task(
    task: Task, session: Stylizer, conn: Connection, cancelled: Callable[[], bool], every: float
) -> None:
    def send(event: str, data: dict[str, Any]) -> None:
        try:
            conn.send((task.kind, task.job_id, event, data))
        except OSError:
            raise _ServerGone from None

    send("started", {})
    try:
        if task.kind == EXPLAIN:
            run_explain(task, session, send)
        else:
            run_stylize(task, session, send, cancelled, every)
    except Exception as e:  # a job's failure is reported, never kills the worker
        if not isinstance(e, (GramstyleError, OSError)):
            log.exception("job %s failed", task.job_id)
        send("failed", {"error": _describe(e)})
