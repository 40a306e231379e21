"""The FastAPI app: the REST API, server-sent events, and the page in ``static/``.

Every error is JSON ``{"error": "..."}``: 400 a malformed request, 401/403 a missing or
wrong token, 404 an unknown job, 409 an image that is not there yet, 413 too many bytes
or pixels, 422 a bad image or setting, 429 a full queue, 503 a server that cannot take
work now (also ``/api/health`` when degraded), 507 a full disk; anything unexpected is
a 500 with a request id (:class:`.guard.Catch`). The upload is read in
:mod:`.uploads`, hosts and origins are checked in :mod:`.guard`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException

from .. import __version__, registry
from ..errors import DiskFull, GramstyleError, TooLarge
from ..image import write_thumbnail
from ..presets import PRESET_NOTES, PRESET_PACE, PRESETS, brackets
from . import samples
from .config import ServeConfig
from .errors import BadRequest, NotReady, QueueFull, Unavailable, UnknownJob
from .guard import Catch, Guard, allowed_hosts, error
from .manager import JobManager, client_settings
from .store import DONE, FINAL
from .uploads import Uploads, thumb

log = logging.getLogger("gramstyle.web")
COOKIE = "gramstyle_token"
#: An explain report's file names: plain names, never a path.
REPORT_FILE = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
STATUS = {
    TooLarge: 413,
    BadRequest: 400,
    UnknownJob: 404,
    NotReady: 409,
    QueueFull: 429,
    Unavailable: 503,
    DiskFull: 507,
}
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def static_dir() -> Path:
    return Path(str(resources.files("gramstyle.web") / "static"))


def _method_json(name: str) -> dict[str, Any]:
    """What the page needs to offer a method: its names, pace, and what its slider sets."""
    info = registry.info(name)
    return {
        "name": info.name,
        "label": info.label,
        "help": info.help,
        "pace": info.pace,
        "iterative": info.iterative,
        "control": info.control,
    }


def _finite(value: Any) -> Any:
    """JSON has no infinity: an unbounded side or a single scale (inf) becomes null."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _thumbnail(png: Path, dest: Path) -> Path:
    """``dest``, written from ``png`` first if a job from before thumbnails lacks it."""
    if not dest.is_file():
        with Image.open(png) as img:
            write_thumbnail(img.convert("RGB"), dest)
    return dest


def create_app(config: ServeConfig, host: str = "127.0.0.1") -> FastAPI:
    """The app for ``config``; its job workers start and stop with the app (lifespan)."""
    manager = JobManager(config)
    uploads = Uploads(config, manager)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            try:
                await asyncio.to_thread(manager.stop)
            except Exception:  # the workers are daemons: they go with the process anyway
                log.exception("stopping the job manager")

    app = FastAPI(
        title="gramstyle",
        version=__version__,
        summary="Neural style transfer (Gatys et al.) as a service, with live previews.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.manager = manager
    app.add_middleware(Catch)  # type: ignore[arg-type]
    app.add_middleware(Guard, hosts=allowed_hosts(host))  # type: ignore[arg-type]

    # ---------------------------------------------------------------- errors

    @app.exception_handler(GramstyleError)
    async def _gramstyle_error(request: Request, e: GramstyleError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(e, cls)), 422)
        headers = {"Retry-After": "10"} if status in (429, 503, 507) else None
        return error(status, str(e), headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, e: HTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail), dict(e.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, f"{where}: {first.get('msg', 'invalid request')}"[:500])

    # ---------------------------------------------------------------- auth

    def authorised(request: Request) -> None:
        """Bearer token on every API call (a GET may use the page's cookie instead)."""
        if config.token is None:
            return
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        supplied = value.strip() if scheme.lower() == "bearer" else None
        if not supplied and request.method in ("GET", "HEAD"):
            # <img>, EventSource and the report's links cannot send a header; the cookie
            # is SameSite=Strict and never enough to change anything (no CSRF).
            supplied = request.cookies.get(COOKIE)
        if not supplied:
            raise HTTPException(
                401,
                "this server needs a token: Authorization: Bearer TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(supplied.encode(), config.token.encode()):
            raise HTTPException(403, "wrong token")

    api = [Depends(authorised)]

    # ---------------------------------------------------------------- the page

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(
            static_dir() / "index.html",
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        # Pages without an icon link (the explain report, /docs) ask for this one.
        return FileResponse(static_dir() / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    # ---------------------------------------------------------------- API

    @app.get("/api/health", dependencies=api, tags=["server"])
    async def health() -> JSONResponse:
        """``ok`` (200), or ``degraded`` (503) with the problems: workers down, the jobs
        folder not writable, its disk nearly full; the jobs it holds, by status."""
        state = {**manager.health(), "version": __version__}
        return JSONResponse(state, status_code=200 if state["status"] == "ok" else 503)

    @app.get("/api/limits", dependencies=api, tags=["server"])
    async def limits() -> dict[str, Any]:
        """What this server accepts (the page sizes its controls from this)."""
        return {
            "max_upload_bytes": config.max_upload_bytes,
            "max_pixels": config.max_pixels,
            "max_size": config.max_size,
            "max_steps": config.max_steps,
            "max_styles": config.max_styles,
            "max_queue": config.max_queue,
            "defaults": client_settings(config.base),
            "token": config.token is not None,
            "methods": [_method_json(name) for name in registry.names()],
            "presets": {
                name: {
                    "note": PRESET_NOTES[name],
                    "pace": PRESET_PACE[name],
                    "settings": _finite(brackets(name)),
                }
                for name in PRESETS
            },
        }

    @app.post("/api/session", dependencies=api, status_code=204, tags=["server"])
    async def session() -> Response:
        """Give the page a cookie with the token, for URLs it cannot add a header to."""
        response = Response(status_code=204)
        if config.token is not None:
            response.set_cookie(COOKIE, config.token, httponly=True, samesite="strict", path="/api")
        return response

    @app.get("/api/samples", dependencies=api, tags=["samples"])
    async def sample_list() -> dict[str, Any]:
        """Built-in sample photos and styles (none is a shipped third-party image)."""
        return {"samples": samples.listing()}

    @app.get("/api/samples/{name}", dependencies=api, tags=["samples"])
    async def sample_image(name: str) -> FileResponse:
        path = await asyncio.to_thread(samples.sample_file, name, config.jobs_dir / ".samples")
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/api/jobs", dependencies=api, tags=["jobs"])
    async def job_list(limit: int = 100) -> dict[str, Any]:
        """The newest ``limit`` jobs, newest first, with queue positions."""
        return {"jobs": manager.listing()[: max(0, limit)]}

    upload_schema = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["content", "style"],
                        "properties": {
                            "content": {
                                "type": "string",
                                "format": "binary",
                                "description": "the photo",
                            },
                            "style": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "one or more style images",
                            },
                            "settings": {
                                "type": "string",
                                "description": "JSON of Settings fields, e.g. "
                                '{"size": 512, "strength": 0.7}',
                            },
                            "blend": {
                                "type": "string",
                                "description": "weights of the styles, e.g. [0.7, 0.3]",
                            },
                            "content_labels": {
                                "type": "string",
                                "format": "binary",
                                "description": "optional: the photo's label map (flat "
                                "colours, one per region), with style_labels",
                            },
                            "style_labels": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "optional: each style's label map, in order",
                            },
                        },
                    }
                }
            },
        }
    }

    @app.post(
        "/api/jobs", dependencies=api, status_code=202, tags=["jobs"], openapi_extra=upload_schema
    )
    async def submit(request: Request) -> JSONResponse:
        """Queue a stylisation: multipart ``content``, ``style`` (repeat), ``settings``."""
        job = await uploads.submit(request)
        return JSONResponse(
            {"id": job.id, "url": f"/api/jobs/{job.id}"},
            status_code=202,
            headers={"Location": f"/api/jobs/{job.id}"},
        )

    @app.get("/api/jobs/{job_id}", dependencies=api, tags=["jobs"])
    async def job_state(job_id: str) -> dict[str, Any]:
        """``status`` (queued, running, done, failed, cancelled), progress, cost, ETA."""
        return manager.public(manager.get(job_id))

    @app.delete("/api/jobs/{job_id}", dependencies=api, tags=["jobs"])
    async def cancel(job_id: str) -> JSONResponse:
        """Cancel: a queued job at once (200), a running one within a step (202)."""
        job = manager.cancel(job_id)
        return JSONResponse(
            manager.public(job), status_code=202 if job.status == "running" else 200
        )

    @app.get("/api/jobs/{job_id}/events", dependencies=api, tags=["jobs"])
    async def events(job_id: str) -> StreamingResponse:
        """Server-sent events: one ``data:`` JSON line per step; the last is final."""
        q = manager.subscribe(job_id)

        async def stream() -> AsyncIterator[str]:
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(q.get(), timeout=15)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"  # a comment: keeps proxies from timing out
                        continue
                    if item is None:  # the server is stopping
                        return
                    yield f"data: {json.dumps(item, allow_nan=False)}\n\n"
                    if item["status"] in FINAL:
                        return
            finally:
                manager.unsubscribe(job_id, q)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/jobs/{job_id}/preview", dependencies=api, tags=["jobs"], response_class=Response)
    async def preview(job_id: str) -> Response:
        """The latest image of a running (or finished) job, JPEG."""
        job, path = manager.get(job_id), manager.folder(job_id) / "preview.jpg"
        try:
            data = await asyncio.to_thread(path.read_bytes)  # one whole version, never torn
        except FileNotFoundError:
            raise NotReady(f"job {job_id} has no preview yet (status {job.status})") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get(
        "/api/jobs/{job_id}/inputs/{name}",
        dependencies=api,
        tags=["jobs"],
        response_class=FileResponse,
    )
    async def job_input(job_id: str, name: str, small: bool = False) -> FileResponse:
        """The job's photo (``content``), a style (``style_1`` ...) or a label map
        (``content_labels``, ``style_labels_1`` ...) as uploaded and re-encoded, PNG;
        ``?small=true``: a JPEG of at most 160 px a side."""
        job = manager.get(job_id)
        names = ["content"] + [f"style_{k}" for k in range(1, job.styles + 1)]
        if job.labels:
            names += ["content_labels"] + [f"style_labels_{k}" for k in range(1, job.styles + 1)]
        if name not in names:
            raise UnknownJob(f"job {job_id} has no input {name!r} (it has {', '.join(names)})")
        path = manager.folder(job_id) / f"{name}.png"
        if not path.is_file():
            raise UnknownJob(f"job {job_id}'s input {name!r} is gone")
        if small:
            path = await asyncio.to_thread(_thumbnail, path, path.with_name(thumb(name)))
        cache = {"Cache-Control": "private, max-age=86400"}  # inputs never change
        return FileResponse(path, headers=cache)

    @app.get(
        "/api/jobs/{job_id}/result", dependencies=api, tags=["jobs"], response_class=FileResponse
    )
    async def result(job_id: str) -> FileResponse:
        """The finished image at full size, PNG."""
        job = manager.get(job_id)
        path = manager.folder(job_id) / "result.png"
        if job.status != DONE or not path.is_file():
            raise NotReady(f"job {job_id} has no result (status {job.status})")
        return FileResponse(path, media_type="image/png", filename=f"gramstyle-{job_id}.png")

    @app.post("/api/jobs/{job_id}/explain", dependencies=api, status_code=202, tags=["jobs"])
    async def explain(job_id: str) -> dict[str, Any]:
        """Queue the job's explain report (what the style matrices capture)."""
        job = manager.request_explain(job_id)
        return {**manager.public(job), "report": f"/api/jobs/{job_id}/explain/index.html"}

    @app.get(
        "/api/jobs/{job_id}/explain/{name}",
        dependencies=api,
        tags=["jobs"],
        response_class=FileResponse,
    )
    async def explain_file(job_id: str, name: str) -> FileResponse:
        """A file of the job's explain report; ``index.html`` is the page."""
        job = manager.get(job_id)
        if job.explain != DONE:
            raise NotReady(f"job {job_id} has no explain report (status {job.explain})")
        folder = manager.folder(job_id) / "explain"
        if not re.fullmatch(REPORT_FILE, name) or not (folder / name).is_file():
            raise UnknownJob(f"no file {name!r} in the report")
        return FileResponse(folder / name)

    return app
