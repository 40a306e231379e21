"""``gramstyle serve``: the web app and HTTP API (``add_parser``/``command`` for cli.py)."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import socket
import sys
from pathlib import Path

from ..config import Settings
from ..errors import GramstyleError, Terminated
from .config import SERVER_FIELDS, ServeConfig, default_workers

TOKEN_ENV = "GRAMSTYLE_TOKEN"
MIN_TOKEN = 16
DEFAULT_JOBS_DIR = "gramstyle_jobs"


def _default(name: str) -> object:
    return ServeConfig.__dataclass_fields__[name].default


def add_parser(sub: argparse._SubParsersAction) -> None:
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
        p.add_argument(flag, type=kind, default=_default(name), metavar="N",
                       help=f"{text} (default: {_default(name)})")  # fmt: skip
    mb = int(_default("max_upload_bytes")) // 2**20  # type: ignore[call-overload]
    p.add_argument("--max-upload-mb", type=float, default=mb, metavar="MB",
                   help=f"size of one upload, photo and styles together; more get 413 "
                   f"(default: {mb})")  # fmt: skip
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


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``; a name that could resolve elsewhere is not."""
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def config_from(ns: argparse.Namespace) -> ServeConfig:
    token = ns.token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN:
        raise GramstyleError(
            f"the token must be at least {MIN_TOKEN} characters; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    if not is_loopback(ns.host) and token is None:
        raise GramstyleError(
            f"--host {ns.host} exposes the server beyond this machine: give --token "
            f"(or set {TOKEN_ENV}) so that only those who have it can use it"
        )
    if not 0 <= ns.port <= 65535:
        raise GramstyleError(f"--port must be in 0..65535, got {ns.port}")
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


def _check_port(host: str, port: int) -> None:
    """Fail with one line now if the address cannot be bound (uvicorn would exit 1)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as e:
            raise GramstyleError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def command(ns: argparse.Namespace) -> int:
    """Run the server until Ctrl-C (exit 130) or SIGTERM (143); jobs resume on restart."""
    try:
        import python_multipart  # noqa: F401  (FastAPI's form parser)
        import uvicorn

        from .app import create_app
    except ImportError as e:
        raise GramstyleError(
            f"gramstyle serve needs the web extra ({e.name} is missing): "
            "pip install 'gramstyle[web]'"
        ) from None
    config = config_from(ns)
    config.jobs_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(config.jobs_dir, os.W_OK):
        raise GramstyleError(f"--jobs-dir {config.jobs_dir} is not writable")
    _check_port(ns.host, ns.port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, host=ns.host),
            host=ns.host.strip("[]"),
            port=ns.port,
            log_level="warning" if ns.quiet else "info",
            timeout_graceful_shutdown=3,  # open event streams must not hold up a stop
            server_header=False,
        )
    )
    host = f"[{ns.host.strip('[]')}]" if ":" in ns.host else ns.host
    url = f"http://{host}:{ns.port}/" + (f"?token={config.token}" if config.token else "")
    print(f"gramstyle: serving {url} ({config.workers} worker(s), jobs in {config.jobs_dir}); "
          "Ctrl-C stops", file=sys.stderr)  # fmt: skip
    try:
        server.run()
    except Terminated:
        print("gramstyle: terminated; queued and running jobs resume on the next start",
              file=sys.stderr)  # fmt: skip
        return 143
    except KeyboardInterrupt:
        print("gramstyle: stopped; queued and running jobs resume on the next start",
              file=sys.stderr)  # fmt: skip
        return 130
    return 0
