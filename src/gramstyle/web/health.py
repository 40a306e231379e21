"""What ``/api/health`` knows of the jobs folder, gathered off the request path.

The manager's supervisor calls :func:`look` every few seconds, so a health
call only reads the last answer (a probe file and a ``statvfs`` per call would let a
busy monitor load the disk it watches).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import GramstyleError
from ..fs import os_reason, probe_writable

#: Seconds between two looks at the jobs folder.
EVERY = 2.0


@dataclass(frozen=True)
class Disk:
    """The jobs folder as last seen: why it cannot be written, why it is too full."""

    unwritable: str | None = None
    full: str | None = None

    def problems(self) -> list[str]:
        return [p for p in (self.unwritable, self.full) if p]


def look(root: Path, min_free: int) -> Disk:
    """Try a file in ``root`` and measure its disk's free space (a few system calls)."""
    unwritable = full = None
    try:
        probe_writable(root / ".health", "jobs")
    except GramstyleError as e:
        unwritable = str(e)
    try:
        st = os.statvfs(root)
    except OSError as e:
        return Disk(unwritable or f"the jobs folder {root} cannot be examined ({os_reason(e)})")
    free = st.f_bavail * st.f_frsize
    if free < min_free:
        full = (
            f"the disk of the jobs folder is nearly full: {free / 2**20:.0f} MB free, "
            f"jobs need {min_free / 2**20:.0f} MB"
        )
    return Disk(unwritable, full)
