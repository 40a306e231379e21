"""``gramstyle serve``: the web app and HTTP API (:mod:`gramstyle.web`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import GramstyleError, Terminated
from ..settings import Settings
from ..web.config import SERVER_FIELDS, ServeConfig, default_workers
from ..web.serve import MIN_TOKEN, TOKEN_ENV, check_access, check_port, make_server, url

DEFAULT_JOBS_DIR = "gramstyle_jobs"


def _default(name: str) -> object:
    return ServeConfig.__dataclass_fields__[name].default


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the web page and HTTP API (needs gramstyle[web])",
        description="Serve a page to stylise photos in the browser, with a live preview, "
        "and the REST API behind it (OpenAPI docs at /docs). Jobs run in worker processes, "
        "first in first out, and live in --jobs-dir, so a restart loses no result.",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only); any other "
        f"address needs --token or ${TOKEN_ENV}",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    p.add_argument(
        "--jobs-dir",
        default=DEFAULT_JOBS_DIR,
        metavar="DIR",
        help=f"folder of jobs, uploads and results (default: {DEFAULT_JOBS_DIR})",
    )
    p.add_argument(
        "--token",
        default=None,
        help=f"secret every API call must carry as 'Authorization: Bearer TOKEN' "
        f"(default: ${TOKEN_ENV}; at least {MIN_TOKEN} characters)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"job worker processes (default: one per 4 cores, here {default_workers()})",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch threads of each worker (default: the cores shared out between workers)",
    )
    limits = [
        ("--max-queue", int, "max_queue", "jobs waiting or running at once; more get 429"),
        ("--max-pixels", int, "max_pixels", "pixels of one uploaded image; more get 413"),
        ("--max-size", int, "max_size", "largest result side a job may ask for, in pixels"),
        ("--max-steps", int, "max_steps", "largest steps and coarse_steps a job may ask for"),
        ("--max-styles", int, "max_styles", "style images per job"),
    ]
    for flag, kind, name, text in limits:
        p.add_argument(
            flag,
            type=kind,
            default=_default(name),
            metavar="N",
            help=f"{text} (default: {_default(name)})",
        )
    mb = int(_default("max_upload_bytes")) // 2**20  # type: ignore[call-overload]
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=mb,
        metavar="MB",
        help=f"size of one upload, photo and styles together; more get 413 (default: {mb})",
    )
    # The server's own Settings fields: help and defaults from Settings, as in `stylize`.
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for name in (*SERVER_FIELDS, "precision"):
        f = fields[name]
        meta = dict(f.metadata)
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=f.default,
            help=f"{meta.pop('help')}; for every job (default: {f.default})",
            **meta,
        )
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=command)


def config_from(ns: argparse.Namespace) -> ServeConfig:
    token = ns.token or os.environ.get(TOKEN_ENV) or None
    check_access(ns.host, token)
    base = Settings().replace(**{n: getattr(ns, n) for n in (*SERVER_FIELDS, "precision")})
    jobs_dir = Path(ns.jobs_dir).expanduser().resolve()
    if jobs_dir.exists() and not jobs_dir.is_dir():
        raise GramstyleError(f"--jobs-dir {jobs_dir} is not a folder")
    return ServeConfig(
        jobs_dir=jobs_dir,
        token=token,
        workers=ns.workers if ns.workers is not None else default_workers(),
        threads=ns.threads,
        max_queue=ns.max_queue,
        max_upload_bytes=int(ns.max_upload_mb * 2**20),
        max_pixels=ns.max_pixels,
        max_size=ns.max_size,
        max_steps=ns.max_steps,
        max_styles=ns.max_styles,
        base=base,
    )


def command(ns: argparse.Namespace) -> int:
    """Run the server until Ctrl-C (exit 130) or SIGTERM (143); jobs resume on restart."""
    config = config_from(ns)
    config.jobs_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(config.jobs_dir, os.W_OK):
        raise GramstyleError(f"--jobs-dir {config.jobs_dir} is not writable")
    check_port(ns.host, ns.port)
    server = make_server(config, ns.host, ns.port, ns.quiet)
    print(
        f"gramstyle: serving {url(ns.host, ns.port, config.token)} ({config.workers} "
        f"worker(s), jobs in {config.jobs_dir}); Ctrl-C stops",
        file=sys.stderr,
    )
    try:
        server.run()
    except Terminated:
        print(
            "gramstyle: terminated; queued and running jobs resume on the next start",
            file=sys.stderr,
        )
        return 143
    except KeyboardInterrupt:
        print(
            "gramstyle: stopped; queued and running jobs resume on the next start", file=sys.stderr
        )
        return 130
    return 0
