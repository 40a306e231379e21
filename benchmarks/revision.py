"""Another revision's code, for a benchmark's ``--before REV`` rows."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export_revision(rev: str) -> Path:
    """``src/`` of git revision ``rev``, written to a new temporary folder (put it first
    on ``PYTHONPATH`` and ``import gramstyle`` imports that revision)."""
    out = Path(tempfile.mkdtemp(prefix=f"gramstyle-{rev}-"))
    tar = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as f:
        f.extractall(out, filter="data")
    return out / "src"
