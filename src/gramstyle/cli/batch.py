"""``gramstyle batch MANIFEST -o OUTDIR``: the parser and the command.

Exit status: 0 when every row is done or skipped, 1 when any row failed, 2 for a bad
manifest or option, 130/143 when interrupted (rows finished so far are kept).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

from ..batch.status import EXECUTORS, FAILED, RESULTS
from ..errors import GramstyleError, Terminated
from .options import add_settings_options, recipe_from

PROG = "gramstyle"


def add_parser(sub) -> None:
    """Add the ``batch`` subcommand to the CLI's subparsers."""
    b = sub.add_parser(
        "batch",
        help="stylise many images from a CSV manifest or two folders",
        description="Stylise every row of MANIFEST (CSV with a header: content, style "
        "(several joined by ';'), optional output, optional preset, and any setting below "
        "as a column; a preset is sized by each row's size), or "
        "every image of --contents with every image of --styles. Rows already done with "
        f"the same inputs and settings are skipped; OUTDIR/{RESULTS} gets one line per row.",
    )
    b.add_argument("manifest", metavar="MANIFEST", nargs="?", help="the CSV manifest")
    b.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    b.add_argument("--contents", metavar="DIR", help="with --styles: every pair of images")
    b.add_argument("--styles", metavar="DIR", help="with --contents: every pair of images")
    b.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: processes on this machine (default); ray: a Ray cluster",
    )
    b.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (local) or actors (ray); each loads the network "
        "once (default: one per core; ray: as many as the cluster's CPUs hold)",
    )
    b.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch threads per worker (default: cores / workers; ray: --cpus-per-worker)",
    )
    b.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray started for the batch)",
    )
    b.add_argument(
        "--cpus-per-worker",
        type=float,
        default=1.0,
        metavar="N",
        help="ray: CPUs each actor reserves (default: 1)",
    )
    b.add_argument(
        "--gpus-per-worker",
        type=float,
        default=0.0,
        metavar="N",
        help="ray: GPUs each actor reserves, e.g. 0.5 (default: 0)",
    )
    b.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs that exist from other inputs or settings "
        "(outputs with the same ones are always skipped)",
    )
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_settings_options(b)
    b.set_defaults(func=command)


def _rows(ns: argparse.Namespace):
    from ..batch.manifest import pairs, read_manifest

    recipe = recipe_from(ns)  # not yet settings: a preset follows each row's size
    recipe.settings()  # a bad option is the command line's error (exit 2), not every row's
    if ns.manifest and (ns.contents or ns.styles):
        raise GramstyleError("give MANIFEST or --contents/--styles, not both")
    if ns.manifest:
        return read_manifest(ns.manifest, ns.output, recipe)
    if not (ns.contents and ns.styles):
        raise GramstyleError("give a MANIFEST, or both --contents DIR and --styles DIR")
    return pairs(ns.contents, ns.styles, ns.output, recipe)


def command(ns: argparse.Namespace) -> int:
    """Run the batch; return 0, or 1 if any row failed."""
    rows = _rows(ns)
    if ns.threads is not None and ns.threads < 1:
        raise GramstyleError("--threads must be at least 1")
    if ns.executor != "ray":
        return _run(ns, rows)
    with _native_stderr_to_log():
        return _run(ns, rows)


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Send what Ray's C++ core writes to file descriptor 2 to a log file, keep ours.

    Ray's core logs a line or two straight to fd 2 (start-up notes, warnings about its
    own retry machinery) that would tear the progress bar. Python's ``sys.stderr`` keeps
    the terminal; the log is removed after a clean run and named after a failed one.
    """
    fd, log = tempfile.mkstemp(prefix="gramstyle-ray-", suffix=".log")
    sys.stderr.flush()
    terminal = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    saved, sys.stderr = sys.stderr, open(terminal, "w", buffering=1, closefd=True)  # noqa: SIM115
    ok = False
    try:
        yield
        ok = True
    finally:
        sys.stderr.flush()
        os.dup2(sys.stderr.fileno(), 2)
        sys.stderr.close()
        sys.stderr = saved
        if ok:
            os.unlink(log)
        else:
            print(f"{PROG}: Ray's own messages are in {log}", file=sys.stderr)


def _run(ns: argparse.Namespace, rows) -> int:
    from tqdm import tqdm

    from ..batch.run import run_batch

    counts = {"done": 0, "skipped": 0, "failed": 0}
    bar = tqdm(total=len(rows), unit="image", disable=ns.quiet, dynamic_ncols=True)
    results = None
    try:
        results = run_batch(
            rows,
            ns.output,
            ns.executor,
            ns.workers,
            threads=ns.threads,
            overwrite=ns.overwrite,
            cpus_per_worker=ns.cpus_per_worker,
            gpus_per_worker=ns.gpus_per_worker,
            ray_address=ns.ray_address,
        )
        for r in results:
            counts[r.status] += 1
            if r.status == FAILED:
                bar.write(f"{PROG}: row {r.row} failed: {r.error}", file=sys.stderr)
            bar.set_postfix(counts, refresh=False)
            bar.update(1)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated): say what is kept
        if results is not None:
            results.close()  # stops the workers now
        bar.close()
        how, code = ("terminated", 143) if isinstance(e, Terminated) else ("interrupted", 130)
        print(
            f"{PROG}: {how}; {_written(counts)}; results in {ns.output}/{RESULTS}; "
            "run it again to do the rest",
            file=sys.stderr,
        )
        return code
    finally:
        bar.close()
    if not ns.quiet:
        print(
            f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
            f"results in {ns.output}/{RESULTS}",
            file=sys.stderr,
        )
    return 1 if counts["failed"] else 0


def _written(counts: dict[str, int]) -> str:
    """``"50 outputs written (3 skipped, already done; 1 failed)"``.

    >>> _written({"done": 1, "skipped": 0, "failed": 0})
    '1 output written'
    """
    n = counts["done"]
    extra = [
        f"{counts['skipped']} skipped, already done" if counts["skipped"] else "",
        f"{counts['failed']} failed" if counts["failed"] else "",
    ]
    extra = [x for x in extra if x]
    return f"{n} output{'s' if n != 1 else ''} written" + (
        f" ({'; '.join(extra)})" if extra else ""
    )
