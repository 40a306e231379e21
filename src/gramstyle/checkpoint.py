"""Checkpoints of a run, and the fingerprint of what a run was asked to do.

A checkpoint file is ``torch.save`` of plain types and tensors only::

    {"format": 1, "fingerprint": "<sha256 hex>", "state": {...}}

so :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` (no code is
unpickled from a file that may come from elsewhere). ``state`` is the engine's run
state as a dict (image, optimiser state, scale, step, ...). It is written atomically
(a temporary file in the same folder, then ``os.replace``): a crash mid-write leaves
the previous checkpoint whole.

The fingerprint (:func:`fingerprint`) is a sha256 of the inputs' *contents* (file
bytes, or pixels for in-memory images) and of every :class:`Settings` field, so a
checkpoint or an output is recognised wherever the files were moved, and refused when
any input or setting changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import GramstyleError

FORMAT = 1
#: Bump when what goes into a fingerprint changes, so old outputs are redone, not trusted.
FINGERPRINT_VERSION = 1
#: ``out.png`` checkpoints to ``out.png.ckpt``.
SUFFIX = ".ckpt"


def file_sha256(path: str | os.PathLike, what: str = "file") -> str:
    """sha256 of a file's bytes, or a one-line GramstyleError."""
    p = Path(path)
    if not p.exists():
        raise GramstyleError(f"{what} not found: {p}")
    if not p.is_file():
        raise GramstyleError(f"{what} is not a file: {p}")
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise GramstyleError(f"{what} {p} could not be read ({e})") from None
    return h.hexdigest()


def _input_sha256(x: Any, what: str) -> str:
    """A path's file bytes, a tensor's values, or a PIL image's pixels, hashed."""
    import torch

    if isinstance(x, (str, os.PathLike)):
        return file_sha256(x, what)
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", torch.float32).contiguous()
        return hashlib.sha256(repr(tuple(t.shape)).encode() + t.numpy().tobytes()).hexdigest()
    from .image import load_image

    return _input_sha256(load_image(x, None, what), what)  # a PIL image: its pixels


def settings_dict(settings: Settings) -> dict[str, Any]:
    """Every field of ``settings`` as plain JSON types."""
    return json.loads(json.dumps(dataclasses.asdict(settings), sort_keys=True))


def fingerprint(
    content: Any,
    styles: Sequence[Any],
    settings: Settings,
    *,
    blend: Sequence[float] | None = None,
    masks: Sequence[Any] | None = None,
) -> str:
    """sha256 of the inputs' contents and every setting (not of file names)."""
    record = {
        "version": FINGERPRINT_VERSION,
        "content": _input_sha256(content, "content image"),
        "styles": [_input_sha256(s, "style image") for s in styles],
        "settings": settings_dict(settings),
        "blend": None if blend is None else [float(w) for w in blend],
        "masks": None if masks is None else [_input_sha256(m, "mask") for m in masks],
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def checkpoint_path(output: str | os.PathLike) -> Path:
    """Where the checkpoint of a run writing ``output`` lives: ``OUTPUT.ckpt``."""
    p = Path(output)
    return p.with_name(p.name + SUFFIX)


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any], digest: str) -> Path:
    """Write ``state`` (plain types and tensors) with its fingerprint, atomically."""
    import torch

    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        # Ctrl-C or SIGTERM waits until the file is whole: raised inside torch.save,
        # it broke the zip writer, which then failed with a RuntimeError instead.
        with _signals_held():
            with os.fdopen(fd, "wb") as f:
                torch.save({"format": FORMAT, "fingerprint": digest, "state": dict(state)}, f)
            os.replace(tmp, p)
    except OSError as e:
        raise GramstyleError(f"could not write the checkpoint {p}: {e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
    if not isinstance(data, dict) or data.get("format") != FORMAT or "state" not in data:
        raise GramstyleError(f"{p} is not a gramstyle checkpoint (format {FORMAT})")
    if data.get("fingerprint") != digest:
        raise GramstyleError(
            f"the checkpoint {p} was made from other inputs or settings; "
            "run with the same ones, or delete it to start over"
        )
    return dict(data["state"])


class Checkpointed:
    """A Gatys run that saves its state to ``path`` every ``every`` steps and when stopped.

    The library face of ``gramstyle stylize --checkpoint-every N --resume``::

        st = Stylizer(settings)
        prep = st.prepare("photo.jpg", "painting.jpg")
        with Checkpointed(st, prep, "out.png.ckpt", every=20, resume=True) as run:
            for rec in run:                  # StepRecords, as from Stylizer.run
                ...
        save_image(rec.image, "out.png")
        run.finish()                         # the picture is safe: drop the checkpoint

    ``resume=True`` continues from ``path`` when it exists (:attr:`resumed_from` is the
    step it continues after), and refuses a checkpoint of other inputs or settings; with
    ``resume=False`` an existing checkpoint is an error unless ``overwrite``. Leaving the
    ``with`` block by Ctrl-C or SIGTERM (any ``KeyboardInterrupt``) saves the state of the
    last finished step first. Checkpoints are keyed by ``prep.key`` (inputs and settings).
    """

    def __init__(
        self,
        session: Any,
        prep: Any,
        path: str | os.PathLike,
        every: int = 0,
        *,
        resume: bool = False,
        overwrite: bool = False,
        plan: Any = None,
        on_tile: Any = None,
    ) -> None:
        from .run import RunState

        if every < 0:
            raise GramstyleError("--checkpoint-every must not be negative")
        self.path, self.every, self.key = Path(path), every, prep.key
        state = None
        if self.path.exists():
            if resume:
                state = RunState.from_dict(load_checkpoint(self.path, self.key))
            elif not overwrite:
                raise GramstyleError(
                    f"a checkpoint exists at {self.path}: pass --resume to continue it "
                    "(or --overwrite to start afresh)"
                )
        #: ``(done, total)`` steps of the checkpoint resumed from, or None for a fresh run.
        self.resumed_from: tuple[int, int] | None = (
            None if state is None else (state.done, state.total)
        )
        self.run = session.run(prep, plan, resume=state, on_tile=on_tile)
        self.saved_at: int | None = None  # ``done`` of the last checkpoint written

    def __iter__(self):
        for rec in self.run:
            if self.every and rec.done % self.every == 0 and rec.done < rec.total:
                self.save()
            yield rec

    def save(self) -> Path | None:
        """Write the state after the last finished step (None before the first step)."""
        try:
            state = self.run.state()
        except GramstyleError:
            return None  # no step taken and nothing resumed: nothing worth keeping
        save_checkpoint(self.path, state.to_dict(), self.key)
        self.saved_at = state.done
        return self.path

    def finish(self) -> None:
        """The output is written: remove the checkpoint."""
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Checkpointed:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.save()
