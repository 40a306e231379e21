"""The ASGI layers around the app: who may ask (Host, Origin), and what a client sees
when something breaks.

- :class:`Guard` refuses a malformed ``Host`` (400), and on a loopback address a
  ``Host`` that is not a loopback name (DNS rebinding) or a request that changes
  anything from another origin (CSRF), both 403.
- :class:`Catch` turns an exception nothing else handled into a JSON 500 with a request
  id, logged once with its traceback under that id, so an operator can match a
  client's report to the log.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from .hosts import is_loopback, parse_authority

log = logging.getLogger("gramstyle.web")

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Every error the API sends: JSON ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def allowed_hosts(bound: str) -> frozenset[str] | None:
    """The Host names a server bound to ``bound`` answers to; None: any well-formed one
    (beyond the loopback the token is the defence, and a proxy may use any name)."""
    if not is_loopback(bound):
        return None
    name, _ = parse_authority(f"[{bound.strip('[]')}]" if ":" in bound else bound)
    return LOOPBACK_NAMES | {name}


def _origin(value: str) -> tuple[str, int | None] | None:
    """An Origin header's (host, port), or None when it is not a plain http(s) origin."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return None
    try:
        return parse_authority(parts.netloc)
    except ValueError:
        return None


class Guard:
    """ASGI middleware against malformed hosts and browsers turned on a local server."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.check(Headers(scope=scope), scope["method"])
            if refused is not None:
                await error(*refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, headers: Headers, method: str) -> tuple[int, str] | None:
        """``(status, why)`` when the request is refused, else None."""
        value = headers.get("host")
        host: tuple[str, int | None] | None = None
        if value is not None:
            try:
                host = parse_authority(value)
            except ValueError as e:
                return 400, f"malformed Host header {value!r}: {e}"
        if self.hosts is not None and (host is None or host[0] not in self.hosts):
            return 403, f"unexpected Host {value!r}: this server answers on the loopback only"
        origin = headers.get("origin")
        unsafe = method not in ("GET", "HEAD", "OPTIONS")
        if unsafe and origin is not None and (host is None or _origin(origin) != host):
            return 403, "cross-origin request refused"
        return None


class Catch:
    """ASGI middleware: an unexpected exception becomes a JSON 500 and one log record."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            rid = secrets.token_hex(6)
            log.exception("request %s: %s %s failed", rid, scope["method"], scope["path"])
            if started:  # the status line is out: all that is left is to end the body
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            message = f"internal error (request {rid}); the server's log has the details"
            await error(500, message, {"X-Request-ID": rid})(scope, receive, send)
