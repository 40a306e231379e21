"""Test-only fault injection for child processes (never part of the package).

A test puts this folder on ``PYTHONPATH`` and names a JSON file in ``GRAMSTYLE_FAULTS``;
every Python process started so (a worker the server or a batch spawns) then runs this
at start-up. The file is read at each call, so a test changes the faults while the
processes run: ``{"enospc": ["preview.jpg", "*.ckpt"]}`` makes ``os.replace`` onto a
file of such a name fail as a full disk does (``atomic_write`` renames every file it
writes into place, so the error comes where a real one would).
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os

_replace = os.replace


def _patterns() -> list[str]:
    path = os.environ.get("GRAMSTYLE_FAULTS")
    if not path:
        return []
    try:
        with open(path) as f:
            return list(json.load(f).get("enospc", []))
    except (OSError, ValueError):
        return []


def _faulty_replace(src, dst, *args, **kwargs):
    name = os.path.basename(os.fspath(dst))
    if any(fnmatch.fnmatch(name, p) for p in _patterns()):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(dst))
    return _replace(src, dst, *args, **kwargs)


os.replace = _faulty_replace
