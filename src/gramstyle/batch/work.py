"""One row of a batch, done by a worker that holds the network: skip, stylise, save.

Skipping is decided by a hash of the row's inputs and settings
(:func:`gramstyle.checkpoint.fingerprint`: sha256 of the content and style files' bytes
and of every :class:`Settings` field). The hash is stored *in
the output image* (a PNG iTXt chunk, a JPEG comment; :func:`gramstyle.image.save_image`)
rather than in a sidecar file: the image and its hash then appear together in one
atomic rename, so no crash can leave an image without its hash or a hash without its
image, and a moved or copied output still says what made it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import fingerprint, settings_dict
from ..config import Settings
from ..errors import GramstyleError
from . import DONE, FAILED, SKIPPED  # the statuses live in the package
from .manifest import Job

#: Metadata keys in each output image.
HASH_KEY, SETTINGS_KEY = "gramstyle:hash", "gramstyle:settings"

BackboneFactory = Callable[[Settings], object]
RowHook = Callable[[Job], None]


@dataclass(frozen=True)
class RowResult:
    """What happened to one row; one line of ``results.jsonl``.

    ``status`` is ``done``, ``skipped`` (the output exists with the same hash) or
    ``failed`` (``error`` says why). ``seconds`` is the row's wall time in its worker.
    """

    row: int
    output: str
    status: str
    error: str | None
    seconds: float
    worker: str = ""
    hash: str | None = None
    content: str = ""
    styles: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RowResult:
        d = json.loads(text)
        return cls(**{**d, "styles": tuple(d.get("styles", ()))})


def settings_json(settings: Settings) -> str:
    """Every field of ``settings`` as canonical JSON (sorted keys)."""
    return json.dumps(settings_dict(settings), sort_keys=True)


def job_hash(job: Job) -> str:
    """The row's fingerprint: its input files' bytes and its settings (not file names)."""
    assert job.settings is not None
    return fingerprint(job.content, job.styles, job.settings)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Does rows; holds the network, loaded at its first row and kept (once per worker).

    ``threads`` sets torch's intra-op threads for this process (workers sharing a
    machine should split its cores). ``backbone(settings)`` builds the VGG19 instead of
    the weights named in the settings. ``on_row(job)`` is called before each row is
    computed (instrumentation; the fault-tolerance test holds a row there).
    """

    def __init__(
        self,
        threads: int | None = None,
        overwrite: bool = False,
        backbone: BackboneFactory | None = None,
        on_row: RowHook | None = None,
    ) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.overwrite = overwrite
        self.backbone = backbone
        self.on_row = on_row
        self.name = worker_name()
        self._sessions: dict[tuple, object] = {}

    def _session(self, s: Settings):
        """One :class:`~gramstyle.Stylizer` per network: it keeps the network and caches
        each style's targets and statistics, so rows sharing a style compute them once."""
        from ..session import Stylizer

        key = (s.weights, s.weights_sha256, s.pooling)
        if key not in self._sessions:
            net = None if self.backbone is None else self.backbone(s)
            self._sessions[key] = Stylizer(s, backbone=net)  # type: ignore[arg-type]
        return self._sessions[key]

    def __call__(self, job: Job) -> RowResult:
        t0 = time.perf_counter()
        digest = None

        def result(status: str, error: str | None = None) -> RowResult:
            return RowResult(
                job.row, job.output, status, error, round(time.perf_counter() - t0, 3),
                self.name, digest, job.content, job.styles,
            )  # fmt: skip

        try:
            if job.error is not None or job.settings is None:
                raise GramstyleError(job.error or "no settings")
            # Every input checked first (regular files that decode, settings the network
            # takes, an output name that can be written): a bad row fails in its first
            # second, and hashing never reads a FIFO or a device.
            from .. import validate

            Path(job.output).parent.mkdir(parents=True, exist_ok=True)
            validate.stylize_inputs(job.settings, job.content, list(job.styles), job.output,
                                    overwrite=True)  # fmt: skip
            digest = job_hash(job)
            if os.path.exists(job.output):
                from ..image import read_metadata

                if read_metadata(job.output).get(HASH_KEY) == digest:
                    return result(SKIPPED)
                if not self.overwrite:
                    raise GramstyleError(
                        f"output {job.output} exists from other inputs or settings; "
                        "pass --overwrite to replace it"
                    )
            self._stylise(job, digest)
            return result(DONE)
        except GramstyleError as e:
            return result(FAILED, str(e))
        except (MemoryError, RuntimeError, ValueError, OSError) as e:
            # An unexpected failure of one row (e.g. out of memory) must not sink the batch.
            return result(FAILED, f"{type(e).__name__}: {e}")

    def _stylise(self, job: Job, digest: str) -> None:
        from ..image import save_image

        s = job.settings
        assert s is not None
        if self.on_row is not None:
            self.on_row(job)
        image = self._session(s).stylize(job.content, list(job.styles), s)  # type: ignore[attr-defined]
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)
        meta = {HASH_KEY: digest, SETTINGS_KEY: settings_json(s)}
        save_image(image, job.output, overwrite=True, metadata=meta)  # type: ignore[arg-type]
