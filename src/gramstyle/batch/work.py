"""One row of a batch, done by a worker that holds the network: skip, stylise, save.

Skipping is decided by a fingerprint of the row's inputs and settings
(:func:`gramstyle.keys.fingerprint` of the content and style files' bytes and of every
:class:`Settings` field). The fingerprint is stored *in
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
from typing import Any

from ..errors import GramstyleError, out_of_memory
from ..image import read_metadata
from ..keys import Input, fingerprint
from ..request import check_request
from ..session import Stylizer
from ..settings import Settings
from .manifest import Row
from .status import DONE, FAILED, SKIPPED

#: Metadata keys in each output image.
HASH_KEY, SETTINGS_KEY = "gramstyle:hash", "gramstyle:settings"

BackboneFactory = Callable[[Settings], object]
RowHook = Callable[[Row], None]


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
    return json.dumps(dataclasses.asdict(settings), sort_keys=True)


def row_hash(row: Row) -> str:
    """The row's fingerprint: its input files' bytes and its settings (not file names)."""
    assert row.settings is not None
    return fingerprint(
        Input(row.content, "content image"),
        [Input(x, "style image") for x in row.styles],
        row.settings,
        *(  # label maps change the result: their bytes count (none: as before)
            [Input(row.content_labels, "content labels")]
            + [Input(x, "style labels") for x in row.style_labels]
            if row.content_labels or row.style_labels
            else []
        ),
    )


def _labels(row: Row) -> dict[str, Any]:
    """The row's label maps as :meth:`Stylizer.job` takes them (None where absent)."""
    return {
        "content_labels": row.content_labels or None,
        "style_labels": list(row.style_labels) or None,
    }


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Does rows; holds the network, loaded at its first row and kept (once per worker).

    ``threads`` sets torch's intra-op threads for this process (workers sharing a
    machine should split its cores). ``backbone(settings)`` builds the VGG19 instead of
    the weights named in the settings. ``on_row(row)`` is called before each row is
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
        self._sessions: dict[tuple, Stylizer] = {}

    def _session(self, s: Settings) -> Stylizer:
        """One :class:`~gramstyle.Stylizer` per network: it keeps the network and caches
        each style's targets and statistics, so rows sharing a style compute them once."""
        key = (s.weights, s.weights_sha256, s.pooling)
        if key not in self._sessions:
            net = None if self.backbone is None else self.backbone(s)
            self._sessions[key] = Stylizer(s, backbone=net)  # type: ignore[arg-type]
        return self._sessions[key]

    def __call__(self, row: Row) -> RowResult:
        t0 = time.perf_counter()
        digest = None

        def result(status: str, error: str | None = None) -> RowResult:
            return RowResult(
                row.row,
                row.output,
                status,
                error,
                round(time.perf_counter() - t0, 3),
                self.name,
                digest,
                row.content,
                row.styles,
            )

        try:
            if row.error is not None or row.settings is None:
                raise GramstyleError(row.error or "no settings")
            # Every input checked first (regular files that decode, an output name that
            # can be written): a bad row fails in its first second, and hashing never
            # reads a FIFO or a device. The row checks the rest before any work.
            Path(row.output).parent.mkdir(parents=True, exist_ok=True)
            check_request(
                row.content,
                list(row.styles),
                row.output,
                overwrite=True,
                **_labels(row),
            )
            digest = row_hash(row)
            if os.path.exists(row.output):
                if read_metadata(row.output).get(HASH_KEY) == digest:
                    return result(SKIPPED)
                if not self.overwrite:
                    raise GramstyleError(
                        f"output {row.output} exists from other inputs or settings; "
                        "pass --overwrite to replace it"
                    )
            self._stylise(row, digest)
            return result(DONE)
        except GramstyleError as e:
            return result(FAILED, str(e))
        except (MemoryError, RuntimeError, ValueError, OSError) as e:
            # An unexpected failure of one row (e.g. out of memory) must not sink the batch.
            why = "out of memory" if out_of_memory(e) else f"{type(e).__name__}: {e}"
            return result(FAILED, why)

    def _stylise(self, row: Row, digest: str) -> None:
        s = row.settings
        assert s is not None
        if self.on_row is not None:
            self.on_row(row)
        job = self._session(s).job(row.content, list(row.styles), s, **_labels(row))
        meta = {HASH_KEY: digest, SETTINGS_KEY: settings_json(s)}
        job.save(row.output, overwrite=True, metadata=meta)
