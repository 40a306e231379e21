"""What is true of each job: its state, changed in memory first and written second.

:meth:`Ledger.commit` writes a change already made to a :class:`~.store.Job` to its
``job.json`` and then tells the job's watchers. A write that fails never stops the
queue:

- the folder is still there (a full disk, an I/O error): the job fails with the reason,
  or only its report does when the report's state was being written;
- the folder is gone (deleted by hand, disk trouble): an unfinished job fails as
  deleted (:data:`~.store.VANISHED`); a finished one, whose last state was written, is
  forgotten, as a restart would forget it.

A job that fails so must stop being worked on: the manager is told through ``stop``
(drop its queued tasks, ask its worker to stop). Every method is called with the
manager's lock held.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import GramstyleError
from .events import Watchers
from .store import DONE, FAILED, FINAL, QUEUED, RUNNING, VANISHED, Job, JobStore

log = logging.getLogger("gramstyle.web")

#: ``stop(job_id, kind)``: drop the job's queued tasks of ``kind`` (None: all) and ask
#: the worker running one to stop.
Stop = Callable[[str, str | None], None]


class Ledger:
    """The jobs of one server, by id, and the watchers of each."""

    def __init__(self, store: JobStore, describe: Callable[[Job], dict[str, Any]], stop: Stop):
        self.store = store
        self.jobs: dict[str, Job] = {}
        self.watchers = Watchers()
        self._describe, self._stop = describe, stop
        self._settled: set[str] = set()  # finished, and written so: deleting it forgets it
        self._gone: set[str] = set()  # unfinished when its folder went: failed, and kept

    def load(self) -> list[Job]:
        """The jobs on disk (see :meth:`JobStore.recover`), oldest first, now held."""
        jobs = self.store.recover()
        for job in jobs:
            self.add(job)
            if job.status in FINAL:
                self._settled.add(job.id)
        return jobs

    def add(self, job: Job) -> None:
        self.jobs[job.id] = job

    def publish(self, job: Job) -> None:
        """Send the job's public state to its watchers (the end, if it was forgotten)."""
        if self.watchers.watched(job.id):
            self.watchers.send(job.id, self._describe(job) if job.id in self.jobs else None)

    def commit(self, job: Job, explain: bool = False) -> bool:
        """Write a change already made in memory, then tell the job's watchers.

        False when it could not be written: the job (or its report, for ``explain``)
        has failed instead, or the job is gone with its folder.
        """
        try:
            self.store.save(job)
            saved = True
        except GramstyleError as e:
            self._unsaved(job, e, explain)
            saved = False
        if saved and job.status in FINAL:
            self._settled.add(job.id)
        self.publish(job)
        return saved

    def finish(self, job: Job, status: str, error: str | None = None) -> None:
        job.status, job.error, job.finished = status, error, time.time()
        job.eta = 0.0 if status == DONE else None
        self.commit(job)

    @staticmethod
    def requeue(job: Job) -> None:
        job.status, job.started, job.done, job.loss, job.eta = QUEUED, None, 0, None, None
        job.preview, job.scale, job.size = 0, 0, None

    def fail(self, job: Job, why: str) -> None:
        """Fail ``job`` in memory now: out of the queue, its worker told to stop."""
        self._stop(job.id, None)
        job.status, job.error, job.finished, job.eta = FAILED, why, time.time(), None

    def save_quietly(self, job: Job) -> None:
        """Write the job's state if the disk lets us; memory is right either way."""
        try:
            self.store.save(job)
        except GramstyleError as e:
            log.warning("job %s: %s", job.id, e)

    def _unsaved(self, job: Job, e: GramstyleError, explain: bool) -> None:
        if not self.store.exists(job.id):
            self.vanished(job)
            return
        log.error("job %s: %s", job.id, e)
        why = f"the job's state could not be saved: {e}"
        if explain:
            self._stop(job.id, "explain")
            job.explain, job.explain_error = FAILED, why
        else:
            self.fail(job, why)
        self.save_quietly(job)

    def vanished(self, job: Job) -> None:
        """The job's folder is gone: an unfinished job fails, a finished one is forgotten."""
        if job.id in self._settled:
            log.info("job %s: its folder was deleted; forgotten", job.id)
            self._stop(job.id, None)
            del self.jobs[job.id]
            self._settled.discard(job.id)
        else:
            log.warning("job %s: its folder was deleted before the job finished", job.id)
            self._gone.add(job.id)
            self.fail(job, VANISHED)
            if job.explain in (QUEUED, RUNNING):
                job.explain, job.explain_error = FAILED, VANISHED
        self.publish(job)

    def sweep(self, known: set[str], names: set[str]) -> None:
        """Jobs among ``known`` whose folders are not among ``names`` have vanished."""
        for job_id in known - names - self._gone:
            job = self.jobs.get(job_id)
            if job is not None:
                self.vanished(job)
