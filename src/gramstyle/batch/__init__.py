"""Batch work: many (content, styles, settings) rows, each done once, surviving restarts.

>>> from gramstyle.batch import default_output_name
>>> default_output_name("photos/cat.jpg", ["styles/starry.jpg"])
'cat__starry.png'

In Python::

    rows = read_manifest("batch.csv", "out")          # or pairs("photos", "styles", "out")
    for result in run_batch(rows, "out", workers=2):   # RowResult per row, as they finish
        print(result.row, result.status, result.error)

``run_batch`` appends one JSON line per row to ``OUTDIR/results.jsonl``. Rows whose
output already holds the same inputs+settings hash are ``skipped``; a rerun after a
crash or Ctrl-C does only what is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .status import DONE, EXECUTORS, FAILED, RESULTS, SKIPPED

# Imported on first use, so the CLI builds its parser without PIL or torch.
_LAZY = {
    **dict.fromkeys(
        ("Row", "ManifestError", "default_output_name", "pairs", "read_manifest"), "manifest"
    ),
    **dict.fromkeys(("RowResult", "Worker", "row_hash"), "work"),
    **dict.fromkeys(("read_results", "run_batch"), "run"),
}

if TYPE_CHECKING:
    from .manifest import ManifestError, Row, default_output_name, pairs, read_manifest
    from .run import read_results, run_batch
    from .work import RowResult, Worker, row_hash


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gramstyle.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DONE",
    "EXECUTORS",
    "FAILED",
    "RESULTS",
    "SKIPPED",
    "Row",
    "ManifestError",
    "RowResult",
    "Worker",
    "default_output_name",
    "row_hash",
    "pairs",
    "read_manifest",
    "read_results",
    "run_batch",
]
