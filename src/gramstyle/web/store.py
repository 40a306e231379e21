"""Jobs on disk: one folder per job under ``--jobs-dir``, its state in ``job.json``.

A job folder holds ``content.png`` and ``style_1.png`` ... (uploads decoded and
re-encoded), their small JPEG copies ``content.thumb.jpg`` ... for the page,
``job.json`` (the state, replaced atomically on every change), ``preview.jpg`` while it
runs, ``result.png`` when done and ``explain/`` once a report was asked for. A folder
appears whole (built under a hidden name, then renamed), so a crash leaves no half job.
Ids are random and pass :data:`ID_PATTERN` before they become a path.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GramstyleError
from ..fs import write_error, write_json
from .errors import UnknownJob

log = logging.getLogger("gramstyle.web")

#: ``secrets.token_urlsafe(12)``: 16 characters of [A-Za-z0-9_-], 96 random bits.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16}")
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL = (DONE, FAILED, CANCELLED)
#: The error of a job that was running when the server died (see :meth:`JobStore.recover`).
CRASHED = "the server stopped unexpectedly while this job ran; submit it again"
#: The error of a job whose folder disappeared (deleted by hand, disk trouble) before it
#: finished; a finished job whose folder is deleted is forgotten, as after a restart.
VANISHED = "the job's folder was deleted before the job finished; submit it again"


def new_id() -> str:
    return secrets.token_urlsafe(12)


@dataclass
class Job:
    """A job's state: what ``GET /api/jobs/{id}`` shows and ``job.json`` holds."""

    id: str
    settings: dict[str, Any]  # Settings fields as JSON
    styles: int  # number of style images, style_1.png ... style_N.png
    blend: list[float] | None = None
    preset: str | None = None  # the preset the client named; settings holds its values
    names: list[str] | None = None  # the uploads' file names: the photo's, then each style's
    #: label maps: content_labels.png and style_labels_1.png ... (one per style), or none
    labels: bool = False
    status: str = QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    width: int = 0  # of the uploaded photo
    height: int = 0
    done: int = 0  # optimiser steps finished over all scales
    total: int = 0
    loss: float | None = None  # J(G) at the latest step
    elapsed: float = 0.0  # seconds of optimisation so far
    eta: float | None = None  # seconds left, estimated from the work done
    scale: int = 0
    scales: int = 0
    size: list[int] | None = None  # [H, W] of the current scale (the result's when done)
    preview: int = 0  # how many previews were written (0 = none yet); cache-busts the page
    error: str | None = None
    explain: str | None = None  # None, or the explain report's status
    explain_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class JobStore:
    """The jobs folder. Only the server process writes ``job.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        """The folder of ``job_id``; a string that is not a valid id is an unknown job."""
        if not ID_PATTERN.fullmatch(job_id):
            raise UnknownJob(f"no job {job_id!r}")
        return self.root / job_id

    def staging(self) -> Path:
        """A hidden folder to build a new job in; :meth:`commit` makes it a job."""
        try:
            return Path(tempfile.mkdtemp(dir=self.root, prefix=".new-"))
        except OSError as e:
            raise write_error(self.root, e) from None

    def commit(self, job: Job, staged: Path) -> None:
        """Write ``job.json`` into ``staged`` and rename it to the job's folder (atomic)."""
        write_json(staged / "job.json", _clean(job.to_json()))
        try:
            os.replace(staged, self.folder(job.id))
        except OSError as e:
            raise write_error(self.folder(job.id), e) from None

    def save(self, job: Job) -> None:
        """Replace ``job.json`` atomically; a GramstyleError (DiskFull when out of room)
        if it cannot be written, the previous one left whole."""
        write_json(self.folder(job.id) / "job.json", _clean(job.to_json()))

    def exists(self, job_id: str) -> bool:
        """Whether the job's folder is still there (deleting it by hand removes a job)."""
        return self.folder(job_id).is_dir()

    def names(self) -> set[str]:
        """The names in the jobs folder (one listing: cheap enough to repeat often)."""
        return set(os.listdir(self.root))

    def recover(self) -> list[Job]:
        """Every job on disk, oldest first, after a restart.

        Queued jobs stay queued (they run again, in their order). A job still marked
        running was running when the server died: it comes back *failed* rather than
        requeued, because it may be what killed the server (a graceful stop requeues
        running jobs itself before it exits). Half-built folders are removed.
        """
        jobs = []
        for p in self.root.iterdir():
            if p.name.startswith(".new-") and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                continue
            if not (ID_PATTERN.fullmatch(p.name) and (p / "job.json").is_file()):
                continue
            try:
                job = Job.from_json(json.loads((p / "job.json").read_text()))
            except (OSError, ValueError, TypeError):
                continue  # not a job of ours (or damaged by hand): leave it alone
            if job.id != p.name:
                continue
            changed = False
            if job.status == RUNNING:
                job.status, job.error, job.finished, changed = FAILED, CRASHED, time.time(), True
            if job.explain in (QUEUED, RUNNING):
                job.explain, job.explain_error, changed = FAILED, CRASHED, True
            if changed:
                try:
                    self.save(job)
                except GramstyleError as e:  # known in memory; disk trouble is reported
                    log.warning("job %s: %s", job.id, e)
            jobs.append(job)
        return sorted(jobs, key=lambda j: j.created)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """NaN/inf (an AdaIN job's cost) are not JSON: store them as null."""
    return {
        k: None if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))) else v
        for k, v in data.items()
    }
