"""The job queue: FIFO tasks on a supervised worker pool, cancel, progress fan-out.

One lock guards the in-memory state (the jobs of the :class:`~.ledger.Ledger`, the
pending tasks, each slot's task). A listener thread reads the workers' pipes and turns
their messages into state changes; between messages it supervises: a dead worker's
job fails with the reason and the slot gets a new worker (:mod:`.pool`), job folders
deleted under the server are noticed, and the jobs folder's disk is looked at for
``/api/health`` (:mod:`.health`). No failed write, dead worker or deleted folder stops
the queue: each ends one job (see :mod:`.ledger`), and the next one runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..errors import DiskFull
from ..settings import Settings
from . import health
from .config import SERVER_FIELDS, ServeConfig, available_cores
from .errors import NotReady, QueueFull, Unavailable, UnknownJob
from .ledger import Ledger
from .pool import Pool, Slot
from .store import CANCELLED, DONE, FAILED, FINAL, QUEUED, RUNNING, Job, JobStore, _clean
from .worker import EXPLAIN, STYLIZE, Task

log = logging.getLogger("gramstyle.web")
#: Seconds between two rounds of supervision (and the longest wait for a message).
TICK = 0.25
#: What a worker's step message sets on its job.
STEP_FIELDS = ("done", "total", "loss", "elapsed", "eta", "scale", "scales", "size", "preview")


class JobManager:
    """Owns the jobs of one ``--jobs-dir`` and the worker processes that run them."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.store = JobStore(config.jobs_dir)
        self.ledger = Ledger(self.store, self.public, self._stop_job)
        self.jobs = self.ledger.jobs
        self.pending: deque[Task] = deque()
        self.lock = threading.RLock()
        self.threads = config.threads or max(1, available_cores() // config.workers)
        ctx = multiprocessing.get_context("spawn")
        self.pool = Pool(ctx, config.workers, config.base, self.threads, config.preview_every)
        self.stopping = False
        self.disk = health.Disk()
        self._closed = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="gramstyle-jobs", daemon=True)
        self._next_round = self._next_look = 0.0

    # ------------------------------------------------------------ life cycle

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Recover the jobs on disk, spawn the workers, start dispatching."""
        self.ledger.watchers.loop = loop
        with self.lock:
            for job in self.ledger.load():
                if job.status == QUEUED:
                    self.pending.append(self._task(STYLIZE, job))
            self.pool.start()
            self.disk = health.look(self.store.root, self.config.min_free_bytes)
            self._listener.start()
            self._dispatch()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the workers within a step; running jobs go back to the queue.

        A graceful stop requeues what was running (it starts again on the next start);
        only a crash leaves jobs marked running, which come back failed. A state that
        cannot be written now stays in memory and is logged; nothing here raises.
        """
        with self.lock:
            self.stopping = True
        self.pool.stop(timeout)
        self._closed.set()
        if self._listener.is_alive():
            self._listener.join()
        with self.lock:
            self.pool.close()
            for job in self.jobs.values():
                changed = False
                if job.status == RUNNING:  # its worker died without a word
                    self.ledger.requeue(job)
                    changed = True
                if job.explain in (QUEUED, RUNNING):
                    job.explain, changed = None, True  # ask again after the restart
                if changed:
                    self.ledger.save_quietly(job)
        self.ledger.watchers.close()

    # ------------------------------------------------------------ requests

    def check_capacity(self) -> None:
        """Raise QueueFull if a new job would not be accepted now."""
        with self.lock:
            if self.stopping:
                raise QueueFull("the server is stopping")
            busy = len(self.pending) + sum(s.task is not None for s in self.pool.slots)
            if busy >= self.config.max_queue:
                raise QueueFull(
                    f"{busy} jobs are waiting or running, the most this server accepts; "
                    "try again later"
                )

    def check_disk(self) -> None:
        """Refuse a new job while the jobs folder cannot take it (as last looked at)."""
        disk = self.disk
        if disk.unwritable:
            raise Unavailable(f"this server cannot take jobs now: {disk.unwritable}")
        if disk.full:
            raise DiskFull(f"this server cannot take jobs now: {disk.full}")

    def submit(self, job: Job, staged: Path) -> Job:
        """Make the staged folder a job and queue it (FIFO)."""
        with self.lock:
            self.check_capacity()
            self.store.commit(job, staged)
            self.ledger.add(job)
            self.pending.append(self._task(STYLIZE, job))
            self._dispatch()
            return job

    def get(self, job_id: str) -> Job:
        self.store.folder(job_id)  # validates the id
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise UnknownJob(f"no job {job_id!r}")
        return job

    def folder(self, job_id: str) -> Path:
        return self.store.folder(self.get(job_id).id)

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled now; a running one within a step (its worker stops)."""
        with self.lock:
            job = self.get(job_id)
            if job.status in (QUEUED, RUNNING):
                self._stop_job(job_id, STYLIZE)
            if job.status == QUEUED:
                self.ledger.finish(job, CANCELLED)
            return job

    def request_explain(self, job_id: str) -> Job:
        """Queue the job's explain report (once; a failed one may be asked again)."""
        with self.lock:
            job = self.get(job_id)
            if job.status != DONE:
                raise NotReady(f"job {job_id} is {job.status}; the report needs a finished job")
            if job.explain in (QUEUED, RUNNING, DONE):
                return job
            self.check_capacity()
            job.explain, job.explain_error = QUEUED, None
            if self.ledger.commit(job, explain=True):
                self.pending.append(self._task(EXPLAIN, job))
                self._dispatch()
            return self.get(job_id)  # a job forgotten with its folder: 404

    def listing(self) -> list[dict[str, Any]]:
        """Every job's public state, newest first."""
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            return [self.public(j) for j in jobs]

    def health(self) -> dict[str, Any]:
        """``ok``, or ``degraded`` with the problems; from what was last looked at."""
        with self.lock:
            problems = self.pool.problems() + self.disk.problems()
            return {
                "status": "degraded" if problems else "ok",
                "problems": problems,
                "workers": self.pool.alive(),
                "pool": len(self.pool.slots),
                "jobs": self.counts(),
            }

    def counts(self) -> dict[str, int]:
        with self.lock:
            out = dict.fromkeys((QUEUED, RUNNING, DONE, FAILED, CANCELLED), 0)
            for j in self.jobs.values():
                out[j.status] += 1
            return out

    def public(self, job: Job) -> dict[str, Any]:
        """The JSON a client sees: the job's state, its queue position and its links."""
        with self.lock:
            data = _clean(job.to_json())
            data["settings"] = {k: v for k, v in job.settings.items() if k not in SERVER_FIELDS}
            data["queue_position"] = self._position(job)
            data["queue_length"] = len(self.pending)
            return data

    def subscribe(self, job_id: str) -> asyncio.Queue:
        """A queue of the job's public states: the current one first, then every change
        (``None`` ends it; see :class:`.events.Watchers`). Call from the event loop."""
        with self.lock:
            return self.ledger.watchers.add(job_id, self.public(self.get(job_id)))

    def unsubscribe(self, job_id: str, q: asyncio.Queue) -> None:
        self.ledger.watchers.remove(job_id, q)

    # ------------------------------------------------------------ the queue (lock held)

    def _task(self, kind: str, job: Job) -> Task:
        server = {k: getattr(self.config.base, k) for k in SERVER_FIELDS}
        folder = str(self.store.folder(job.id))
        settings = {**job.settings, **server}
        return Task(kind, job.id, folder, settings, job.styles, job.blend, job.labels)

    def _position(self, job: Job) -> int | None:
        if job.status != QUEUED:
            return None
        for k, t in enumerate(self.pending, start=1):
            if t.kind == STYLIZE and t.job_id == job.id:
                return k
        return None

    def _publish_queue(self) -> None:
        """Queue positions moved: tell the queued jobs' watchers."""
        for t in self.pending:
            job = self.jobs.get(t.job_id)
            if t.kind == STYLIZE and job is not None:
                self.ledger.publish(job)

    def _stop_job(self, job_id: str, kind: str | None) -> None:
        """Drop the job's queued tasks of ``kind`` (None: all); stop the running one."""
        before = len(self.pending)
        self.pending = deque(
            t for t in self.pending if not (t.job_id == job_id and kind in (None, t.kind))
        )
        if len(self.pending) != before:
            self._publish_queue()
        for slot in self.pool.slots:
            task = slot.task
            if task is not None and task.job_id == job_id and kind in (None, task.kind):
                self.pool.cancel(slot)

    def _dispatch(self) -> None:
        """Hand pending tasks to idle workers, oldest first."""
        moved = False
        while self.pending and not self.stopping:
            idle = self.pool.idle()
            if not idle:
                break
            task, moved = self.pending.popleft(), True
            job = self.jobs.get(task.job_id)
            if job is None:
                continue
            explain = task.kind == EXPLAIN
            if explain:
                job.explain = RUNNING
            else:
                job.status, job.started = RUNNING, time.time()
            if not self.ledger.commit(job, explain=explain):
                continue  # the job failed instead (or is gone); the worker is still free
            if not self.pool.send(idle[0], task):  # its worker is dying: wait for the next
                if explain:
                    job.explain = QUEUED
                else:
                    self.ledger.requeue(job)
                self.pending.appendleft(task)
                self.ledger.commit(job, explain=explain)
                break
        if moved:
            self._publish_queue()

    # ------------------------------------------------------------ the listener thread

    def _listen(self) -> None:
        while not self._closed.is_set():
            for slot, message in self.pool.receive(TICK):
                self._handle(slot, message)
            try:
                self._supervise()
            except Exception:  # supervision must go on whatever one round met
                log.exception("supervising the workers")
        for slot in self.pool.slots:  # the last words of the workers that stopped
            for _, message in self.pool.drain(slot):
                self._handle(slot, message)

    def _handle(self, slot: Slot, message: Any) -> None:
        try:
            kind, job_id, event, data = message
            with self.lock:
                if slot.task is None or (slot.task.kind, slot.task.job_id) != (kind, job_id):
                    return  # about a task already failed and forgotten
                final = event in ("done", "failed", "cancelled")
                if final:
                    self.pool.finished_task(slot)
                job = self.jobs.get(job_id)
                if job is not None and event != "started":
                    if kind == EXPLAIN:
                        if final and job.explain == RUNNING:
                            job.explain = DONE if event == "done" else FAILED
                            job.explain_error = data.get("error")
                            self.ledger.commit(job, explain=True)
                    elif job.status == RUNNING:  # else it failed meanwhile: nothing to add
                        self._stylize_event(job, event, data)
                if final:
                    self._dispatch()
        except Exception:  # a bad message must not stop the queue
            log.exception("worker %d: message %r", slot.index, message)

    def _stylize_event(self, job: Job, event: str, data: dict) -> None:
        if event == "step":
            for key in STEP_FIELDS:
                setattr(job, key, data[key])
            self.ledger.commit(job)
        elif event == "done":
            job.size, job.elapsed = data["size"], data["elapsed"]
            self.ledger.finish(job, DONE)
        elif event == "failed":
            self.ledger.finish(job, FAILED, data["error"])
        elif event == "cancelled":
            if self.stopping:
                self.ledger.requeue(job)
                self.ledger.commit(job)
            else:
                self.ledger.finish(job, CANCELLED)

    def _supervise(self) -> None:
        """Bury dead workers and start new ones; look at the jobs folder now and then."""
        now = time.monotonic()
        if now < self._next_round:
            return
        self._next_round = now + TICK
        with self.lock:
            if self.stopping:
                return
            for slot in self.pool.dead():
                for _, message in self.pool.drain(slot):  # what it said before it died
                    self._handle(slot, message)
                task, reason = self.pool.bury(slot)
                if task is not None:
                    self._worker_died(task, reason)
            self.pool.restart_due()
            self._dispatch()
        if now >= self._next_look:
            self._next_look = now + health.EVERY
            self._look()

    def _worker_died(self, task: Task, reason: str) -> None:
        job = self.jobs.get(task.job_id)
        if job is None:
            return
        if task.kind == STYLIZE and job.status == RUNNING:
            self.ledger.finish(job, FAILED, reason)
        elif task.kind == EXPLAIN and job.explain == RUNNING:
            job.explain, job.explain_error = FAILED, reason
            self.ledger.commit(job, explain=True)

    def _look(self) -> None:
        """The jobs folder's disk, for health; job folders deleted under the server."""
        disk = health.look(self.store.root, self.config.min_free_bytes)
        with self.lock:
            known = set(self.jobs)
        try:
            names = self.store.names()
        except OSError:
            names = known  # the jobs folder itself is gone or unreadable: health says so
        with self.lock:
            self.disk = disk
            self.ledger.sweep(known, names)


def client_settings(s: Settings) -> dict[str, Any]:
    """The fields of ``s`` a job stores (the server's own fields are added at dispatch)."""
    return {k: v for k, v in dataclasses.asdict(s).items() if k not in SERVER_FIELDS}


__all__ = ["FINAL", "JobManager", "client_settings"]
