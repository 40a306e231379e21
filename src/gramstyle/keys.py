"""The one fingerprint: what a run, a checkpoint, a cached target or an output was made from.

:func:`fingerprint` hashes any mix of parts in a canonical form, so equal inputs give
equal keys wherever they come from: tensors by shape, dtype and values; Pillow images
by their pixels; :class:`Input` wraps a user's input (a path is hashed by its file's
bytes, so a moved file keeps its key); dataclasses by their fields; mappings and
sequences part by part; anything else by ``repr``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from .errors import GramstyleError

#: Bump when what goes into a fingerprint changes, so old checkpoints and outputs are
#: redone, not trusted.
VERSION = 2


@dataclasses.dataclass(frozen=True)
class Input:
    """A user's input: a path (hashed by the file's bytes), a PIL image or a tensor."""

    value: Any
    what: str = "input"


def file_digest(path: str | os.PathLike, what: str = "file") -> str:
    """sha256 of a file's bytes, or a one-line :class:`GramstyleError`."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError:
        raise GramstyleError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise GramstyleError(f"{what} is not a file: {path}") from None
    except OSError as e:
        raise GramstyleError(f"{what} {path} could not be read ({e.strerror or e})") from None
    return h.hexdigest()


def _feed(h: Any, part: Any) -> None:
    """Add ``part`` to the hash ``h``, tagged with its kind (no two kinds collide)."""
    if isinstance(part, Input):
        x = part.value
        if isinstance(x, (str, os.PathLike)):
            _feed(h, ("file", file_digest(x, part.what)))
        else:
            _feed(h, x)
        return
    if isinstance(part, (str, int, float, bool, type(None))):
        h.update(f"{type(part).__name__}:{part!r};".encode())
        return
    if isinstance(part, bytes):
        h.update(b"bytes:%d;" % len(part) + part)
        return
    if dataclasses.is_dataclass(part) and not isinstance(part, type):
        h.update(f"dataclass:{type(part).__name__};".encode())
        _feed(h, {f.name: getattr(part, f.name) for f in dataclasses.fields(part)})
        return
    if isinstance(part, Mapping):
        h.update(b"map:%d;" % len(part))
        for k in sorted(part, key=repr):
            _feed(h, k)
            _feed(h, part[k])
        return
    if isinstance(part, (list, tuple)):
        h.update(b"seq:%d;" % len(part))
        for p in part:
            _feed(h, p)
        return
    shape = getattr(part, "shape", None)
    if shape is not None and hasattr(part, "detach"):  # a tensor
        t = part.detach().cpu().contiguous()
        h.update(f"tensor:{tuple(shape)}:{t.dtype};".encode())
        try:
            h.update(t.numpy().tobytes())
        except TypeError:  # bfloat16 has no numpy type: its bits, as 16-bit integers
            import torch

            h.update(t.view(torch.int16).numpy().tobytes())
        return
    if hasattr(part, "tobytes") and hasattr(part, "mode") and hasattr(part, "size"):  # PIL
        h.update(f"pil:{part.mode}:{part.size};".encode())
        h.update(part.tobytes())
        return
    h.update(f"repr:{part!r};".encode())


def fingerprint(*parts: Any, size: int = 16) -> str:
    """A hex digest of ``parts`` (``size`` bytes of blake2b), stable across processes.

    >>> fingerprint("a", 1) == fingerprint("a", 1) != fingerprint("a", 1.0)
    True
    >>> len(fingerprint({"b": [1, 2]}, size=8))
    16
    """
    h = hashlib.blake2b(digest_size=size)
    _feed(h, VERSION)
    for part in parts:
        _feed(h, part)
    return h.hexdigest()
