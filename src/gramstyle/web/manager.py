"""The job queue: FIFO tasks, worker processes, cancel, and progress fan-out.

One lock guards the in-memory state (``jobs``, ``pending``, each worker's task). A
listener thread turns worker messages into state changes, writes ``job.json`` and
hands the job's public state to every server-sent-event subscriber (asyncio queues,
fed through the event loop). Workers are spawned (``multiprocessing`` "spawn" context:
no forked torch state) and each has its own task queue and cancel Event, so the
server always knows which task a worker runs and a cancel reaches exactly that one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import queue
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import Settings
from .config import SERVER_FIELDS, ServeConfig, available_cores
from .errors import NotReady, QueueFull, UnknownJob
from .store import CANCELLED, DONE, FAILED, FINAL, QUEUED, RUNNING, Job, JobStore, _clean
from .worker import EXPLAIN, STYLIZE, Task, worker_main

log = logging.getLogger("gramstyle.web")
#: A worker that dies this many times in a row without finishing a task stays dead.
MAX_DEATHS = 3


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    tasks: Any  # multiprocessing.Queue of Task | None
    cancel: Any  # multiprocessing.Event
    task: Task | None = None
    deaths: int = 0  # in a row, without finishing a task in between


class JobManager:
    """Owns the jobs of one ``--jobs-dir`` and the worker processes that run them."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.store = JobStore(config.jobs_dir)
        self.jobs: dict[str, Job] = {}
        self.pending: deque[Task] = deque()
        self.workers: list[_Worker] = []
        self.lock = threading.RLock()
        self.ctx = multiprocessing.get_context("spawn")
        self.results = self.ctx.Queue()
        self.subscribers: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False
        self._closed = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="gramstyle-jobs", daemon=True)
        self.threads = config.threads or max(1, available_cores() // config.workers)

    # ------------------------------------------------------------ life cycle

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Recover the jobs on disk, spawn the workers, start dispatching."""
        self.loop = loop
        with self.lock:
            for job in self.store.recover():
                self.jobs[job.id] = job
                if job.status == QUEUED:
                    self.pending.append(self._task(STYLIZE, job))
            self.workers = [self._spawn(i) for i in range(self.config.workers)]
            self._listener.start()
            self._dispatch()

    def _spawn(self, index: int) -> _Worker:
        tasks, cancel = self.ctx.Queue(), self.ctx.Event()
        process = self.ctx.Process(
            target=worker_main,
            name=f"gramstyle-worker-{index}",
            args=(
                index,
                tasks,
                self.results,
                cancel,
                self.config.base,
                self.threads,
                self.config.preview_every,
            ),
            daemon=True,
        )
        process.start()
        return _Worker(process, tasks, cancel)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the workers within a step; running jobs go back to the queue.

        A graceful stop requeues what was running (it starts again on the next start);
        only a crash leaves jobs marked running, which come back failed.
        """
        with self.lock:
            self.stopping = True
            for w in self.workers:
                if w.task is not None:
                    w.cancel.set()
                w.tasks.put(None)
        for w in self.workers:
            w.process.join(timeout)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(5)
        self._closed.set()
        if self._listener.is_alive():
            self._listener.join()
        for q in (self.results, *(w.tasks for w in self.workers)):
            q.close()
        with self.lock:
            for job in self.jobs.values():
                changed = False
                if job.status == RUNNING:  # its worker died without a word
                    self._requeue(job)
                    changed = True
                if job.explain in (QUEUED, RUNNING):
                    job.explain, changed = None, True  # ask again after the restart
                if changed:
                    self.store.save(job)
            for subs in self.subscribers.values():
                for q in subs:
                    self._put(q, None)  # ends every event stream

    # ------------------------------------------------------------ requests

    def check_capacity(self) -> None:
        """Raise QueueFull if a new job would not be accepted now."""
        with self.lock:
            if self.stopping:
                raise QueueFull("the server is stopping")
            busy = len(self.pending) + sum(w.task is not None for w in self.workers)
            if busy >= self.config.max_queue:
                raise QueueFull(
                    f"{busy} jobs are waiting or running, the most this server accepts; "
                    "try again later"
                )

    def submit(self, job: Job, staged: Path) -> Job:
        """Make the staged folder a job and queue it (FIFO)."""
        with self.lock:
            self.check_capacity()
            self.store.commit(job, staged)
            self.jobs[job.id] = job
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
            if job.status == QUEUED:
                self.pending = deque(
                    t for t in self.pending if not (t.kind == STYLIZE and t.job_id == job_id)
                )
                self._finish(job, CANCELLED)
                self._publish_queue()
            elif job.status == RUNNING:
                for w in self.workers:
                    if w.task is not None and w.task.kind == STYLIZE and w.task.job_id == job_id:
                        w.cancel.set()
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
            self.store.save(job)
            self.pending.append(self._task(EXPLAIN, job))
            self._dispatch()
            self._publish(job)
            return job

    def listing(self) -> list[dict[str, Any]]:
        """Every job's public state, newest first."""
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            return [self.public(j) for j in jobs]

    def alive_workers(self) -> int:
        with self.lock:
            return sum(w.process.is_alive() for w in self.workers)

    def counts(self) -> dict[str, int]:
        with self.lock:
            out = {s: 0 for s in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)}
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

    # ------------------------------------------------------------ events

    def subscribe(self, job_id: str) -> asyncio.Queue:
        """A queue of the job's public states: the current one first, then every change.

        Call from the event loop. ``None`` in the queue means the server is stopping.
        """
        q: asyncio.Queue = asyncio.Queue()
        with self.lock:
            job = self.get(job_id)
            q.put_nowait(self.public(job))
            self.subscribers[job_id].add(q)
        return q

    def unsubscribe(self, job_id: str, q: asyncio.Queue) -> None:
        with self.lock:
            subs = self.subscribers.get(job_id)
            if subs is not None:
                subs.discard(q)
                if not subs:
                    del self.subscribers[job_id]

    def _put(self, q: asyncio.Queue, item: Any) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(q.put_nowait, item)

    def _publish(self, job: Job) -> None:
        subs = self.subscribers.get(job.id)
        if subs:
            data = self.public(job)
            for q in subs:
                self._put(q, data)

    def _publish_queue(self) -> None:
        """Queue positions moved: tell the queued jobs' watchers."""
        for t in self.pending:
            if t.kind == STYLIZE and t.job_id in self.subscribers:
                self._publish(self.jobs[t.job_id])

    # ------------------------------------------------------------ internals (lock held)

    def _task(self, kind: str, job: Job) -> Task:
        server = {k: getattr(self.config.base, k) for k in SERVER_FIELDS}
        folder = str(self.store.folder(job.id))
        return Task(kind, job.id, folder, {**job.settings, **server}, job.styles, job.blend)

    def _position(self, job: Job) -> int | None:
        if job.status != QUEUED:
            return None
        for k, t in enumerate(self.pending, start=1):
            if t.kind == STYLIZE and t.job_id == job.id:
                return k
        return None

    def _dispatch(self) -> None:
        """Hand pending tasks to idle workers, oldest first."""
        moved = False
        for w in self.workers:
            if not self.pending or self.stopping:
                break
            if w.task is not None or not w.process.is_alive():
                continue
            task = self.pending.popleft()
            job = self.jobs[task.job_id]
            # Cleared by the server, before the task is sent: a cancel meant for the
            # previous task can never stop this one.
            w.cancel.clear()
            w.task = task
            w.tasks.put(task)
            if task.kind == STYLIZE:
                job.status, job.started = RUNNING, time.time()
            else:
                job.explain = RUNNING
            self.store.save(job)
            self._publish(job)
            moved = True
        if moved:
            self._publish_queue()

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        job.status, job.error, job.finished, job.eta = status, error, time.time(), None
        if status == DONE:
            job.eta = 0.0
        self.store.save(job)
        self._publish(job)

    def _requeue(self, job: Job) -> None:
        job.status, job.started, job.done, job.loss, job.eta = QUEUED, None, 0, None, None
        job.preview, job.scale, job.size = 0, 0, None

    def _listen(self) -> None:
        while True:
            try:
                message = self.results.get(timeout=0.5)
            except queue.Empty:
                if self._closed.is_set():
                    return
                self._check_workers()
                continue
            try:
                self._handle(*message)
            except Exception:  # a bad message must not stop the queue
                log.exception("worker message %r", message)

    def _handle(self, index: int, kind: str, job_id: str, event: str, data: dict) -> None:
        with self.lock:
            w = self.workers[index]
            if w.task is None or (w.task.kind, w.task.job_id) != (kind, job_id):
                return  # from a worker already replaced, about a task already failed
            job = self.jobs[job_id]
            if event == "started":
                return
            if kind == EXPLAIN:
                if event in ("done", "failed"):
                    job.explain = DONE if event == "done" else FAILED
                    job.explain_error = data.get("error")
                    self.store.save(job)
                    self._publish(job)
            elif event == "step":
                for key in (
                    "done",
                    "total",
                    "loss",
                    "elapsed",
                    "eta",
                    "scale",
                    "scales",
                    "size",
                    "preview",
                ):
                    setattr(job, key, data[key])
                self.store.save(job)
                self._publish(job)
            elif event == "done":
                job.size, job.elapsed = data["size"], data["elapsed"]
                self._finish(job, DONE)
            elif event == "failed":
                self._finish(job, FAILED, data["error"])
            elif event == "cancelled":
                if self.stopping:
                    self._requeue(job)
                    self.store.save(job)
                else:
                    self._finish(job, CANCELLED)
            if event in ("done", "failed", "cancelled"):
                w.task, w.deaths = None, 0
                self._dispatch()

    def _check_workers(self) -> None:
        """A worker that died (killed, out of memory) fails its task and is replaced."""
        with self.lock:
            if self.stopping:
                return
            for i, w in enumerate(self.workers):
                if w.process.is_alive() or w.deaths >= MAX_DEATHS:
                    continue
                log.error("worker %d died (exit code %s)", i, w.process.exitcode)
                if w.task is not None:
                    job = self.jobs[w.task.job_id]
                    error = "the worker process died (out of memory?); try a smaller size"
                    if w.task.kind == STYLIZE:
                        self._finish(job, FAILED, error)
                    else:
                        job.explain, job.explain_error = FAILED, error
                        self.store.save(job)
                        self._publish(job)
                deaths = w.deaths + 1
                if deaths >= MAX_DEATHS:  # it dies on its own: restarting would loop
                    log.error("worker %d died %d times in a row; not restarting it", i, deaths)
                    w.task, w.deaths = None, deaths
                    continue
                self.workers[i] = self._spawn(i)
                self.workers[i].deaths = deaths
            self._dispatch()


def client_settings(s: Settings) -> dict[str, Any]:
    """The fields of ``s`` a job stores (the server's own fields are added at dispatch)."""
    return {k: v for k, v in dataclasses.asdict(s).items() if k not in SERVER_FIELDS}


__all__ = ["FINAL", "JobManager", "client_settings"]
