"""Checkpoints: a run's state saved on the way, so an interrupted run resumes exactly.

A checkpoint file is ``torch.save`` of plain types and tensors only::

    {"format": 2, "fingerprint": "<hex>", "state": {...}}

so :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` (no code is
unpickled from a file that may come from elsewhere). ``state`` is the method's run
state as a dict (image, optimiser state, scale, step, ...); the method checks it
against the plan before trusting it. The fingerprint is the run's
:attr:`~gramstyle.inputs.Prepared.key` (every input pixel and setting), so a
checkpoint of other inputs or settings is refused. It is written atomically: a crash
mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import GramstyleError
from .fs import atomic_write

FORMAT = 2
#: ``out.png`` checkpoints to ``out.png.ckpt``.
SUFFIX = ".ckpt"


def checkpoint_path(output: str | os.PathLike) -> Path:
    """Where the checkpoint of a run writing ``output`` lives: ``OUTPUT.ckpt``."""
    p = Path(output)
    return p.with_name(p.name + SUFFIX)


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any], digest: str) -> Path:
    """Write ``state`` (plain types and tensors) with its fingerprint, atomically."""
    import torch

    p = Path(path)
    # Ctrl-C or SIGTERM waits until the file is whole: raised inside torch.save, it
    # broke the zip writer, which then failed with a RuntimeError instead.
    with _signals_held(), atomic_write(p) as f:
        torch.save({"format": FORMAT, "fingerprint": digest, "state": dict(state)}, f)
    return p


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block ends, then deliver them.

    Python-level: a signal mask would not do, since the kernel hands a process's
    signal to any thread that does not block it (torch's workers among them).
    """
    import signal
    import threading

    kinds = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or any(
        signal.getsignal(k) is None
        for k in kinds  # set outside Python: leave it be
    ):
        yield  # only the main thread can set handlers (and only it gets the signals)
        return
    pending: list[int] = []
    before = {k: signal.signal(k, lambda got, _: pending.append(got)) for k in kinds}
    try:
        yield
    finally:
        for k, handler in before.items():
            signal.signal(k, handler)
        for got in dict.fromkeys(pending):
            signal.raise_signal(got)


def load_checkpoint(path: str | os.PathLike, digest: str) -> dict[str, Any]:
    """The state saved in ``path``; refused unless it was made from the same inputs and settings."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise GramstyleError(f"no checkpoint to resume from: {p} not found")
    try:
        with warnings.catch_warnings():  # a foreign pickle makes torch warn, then fail
            warnings.simplefilter("ignore")
            data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise GramstyleError(f"{p} is not a gramstyle checkpoint ({type(e).__name__})") from None
    state = data.get("state") if isinstance(data, dict) else None
    if not isinstance(state, dict) or data.get("format") != FORMAT:
        raise GramstyleError(f"{p} is not a gramstyle checkpoint (format {FORMAT})")
    if data.get("fingerprint") != digest:
        raise GramstyleError(
            f"the checkpoint {p} was made from other inputs or settings; "
            "run with the same ones, or delete it to start over"
        )
    return dict(state)


class Checkpoint:
    """Where a run keeps its state: ``path``, every ``every`` steps and when stopped.

    The library face of ``gramstyle stylize --checkpoint-every N --resume``; hand it to
    :meth:`gramstyle.job.Job.records`::

        ck = Checkpoint("out.png.ckpt", every=20, resume=True)
        for rec in job.records(checkpoint=ck):   # resumes if the file is there
            ...
        job.save("out.png")
        ck.finish()                              # the picture is safe: drop it

    ``resume=True`` continues from ``path`` when it exists (:attr:`resumed_from` is
    then the step it continues after), and refuses a checkpoint of other inputs or
    settings; with ``resume=False`` an existing checkpoint is an error unless
    ``overwrite``. Ctrl-C or SIGTERM during the run saves the last finished step first.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        every: int = 0,
        *,
        resume: bool = False,
        overwrite: bool = False,
    ) -> None:
        if every < 0:
            raise GramstyleError("--checkpoint-every must not be negative")
        self.path, self.every, self.resume = Path(path), every, resume
        if self.path.exists() and not resume and not overwrite:
            raise GramstyleError(
                f"a checkpoint exists at {self.path}: pass --resume to continue it "
                "(or --overwrite to start afresh)"
            )
        #: ``(done, total)`` steps of the checkpoint resumed from, or None for a fresh run.
        self.resumed_from: tuple[int, int] | None = None
        self.saved_at: int | None = None  # ``done`` of the last checkpoint written

    def load(self, key: str) -> dict[str, Any] | None:
        """The state to resume from (None: start afresh), refused unless made for ``key``."""
        if not (self.resume and self.path.exists()):
            return None
        state = load_checkpoint(self.path, key)
        done, total = state.get("done"), state.get("total")
        if isinstance(done, int) and isinstance(total, int):
            self.resumed_from = (done, total)
        return state

    def step(self, run: Any, rec: Any, key: str) -> None:
        """After each record: save every ``every`` steps (not after the last)."""
        if self.every and rec.done % self.every == 0 and rec.done < rec.total:
            self.save(run, key)

    def save(self, run: Any, key: str) -> Path | None:
        """Write the state after the last finished step (None if there is none)."""
        try:
            state = run.state()
        except GramstyleError:
            return None  # no step taken and nothing resumed: nothing worth keeping
        if state is None:
            return None  # a method with nothing to resume
        save_checkpoint(self.path, state.to_dict(), key)
        self.saved_at = state.done
        return self.path

    def finish(self) -> None:
        """The output is written: remove the checkpoint."""
        self.path.unlink(missing_ok=True)
