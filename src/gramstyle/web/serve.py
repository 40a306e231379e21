"""Serving the app: who may reach it, and the uvicorn server that runs it."""

from __future__ import annotations

import copy
import socket
from typing import Any

from ..errors import GramstyleError
from .config import ServeConfig
from .hosts import is_loopback

#: Where ``gramstyle serve`` takes its token from when ``--token`` is not given.
TOKEN_ENV = "GRAMSTYLE_TOKEN"
MIN_TOKEN = 16


def check_access(host: str, token: str | None) -> None:
    """A token long enough to guess at, and one whenever the server is reachable from
    beyond this machine."""
    if token is not None and len(token) < MIN_TOKEN:
        raise GramstyleError(
            f"the token must be at least {MIN_TOKEN} characters; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    if not is_loopback(host) and token is None:
        raise GramstyleError(
            f"--host {host} exposes the server beyond this machine: give --token "
            f"(or set {TOKEN_ENV}) so that only those who have it can use it"
        )


def check_port(host: str, port: int) -> None:
    """Fail with one line now if the address cannot be bound (uvicorn would exit 1)."""
    if not 0 <= port <= 65535:
        raise GramstyleError(f"--port must be in 0..65535, got {port}")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as e:
            raise GramstyleError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def make_server(config: ServeConfig, host: str, port: int, quiet: bool = False) -> Any:
    """A uvicorn server of the app for ``config`` (``server.run()`` serves until stopped)."""
    try:
        import python_multipart  # noqa: F401  (FastAPI's form parser)
        import uvicorn

        from .app import create_app
    except ImportError as e:
        raise GramstyleError(
            f"gramstyle serve needs the web extra ({e.name} is missing): "
            "pip install 'gramstyle[web]'"
        ) from None
    # The app's own lines (a worker restarted, a job whose state could not be written, a
    # 500's traceback) go where uvicorn's go, in its format.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    level = "WARNING" if quiet else "INFO"
    log_config["loggers"]["gramstyle"] = {
        "handlers": ["default"],
        "level": level,
        "propagate": False,
    }
    return uvicorn.Server(
        uvicorn.Config(
            create_app(config, host=host),
            host=host.strip("[]"),
            port=port,
            log_config=log_config,
            log_level=level.lower(),
            timeout_graceful_shutdown=3,  # open event streams must not hold up a stop
            server_header=False,
        )
    )


def url(host: str, port: int, token: str | None) -> str:
    """The page's address (with the token, for the browser to keep as a cookie)."""
    h = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{h}:{port}/" + (f"?token={token}" if token else "")
