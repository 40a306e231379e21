"""A job's upload: the multipart form read within limits, checked, and made a job.

Bytes are counted from ``Content-Length`` and again while the body streams (413); the
form may hold only the fields of :data:`FORM_FIELDS` (400); ``settings`` and ``blend``
are parsed within :mod:`.config`'s limits (400/422); each image is decoded (at most
:data:`DECODE_SLOTS` at once) and re-encoded into a staged folder that becomes the
job's folder whole or not at all. A full disk anywhere on the way is a 507.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from ..errors import DiskFull, GramstyleError, TooLarge
from ..fs import is_disk_full, os_reason
from ..image import reencode_png
from ..request import check_labels
from .config import ServeConfig, job_blend, job_preset, job_settings
from .errors import BadRequest
from .manager import JobManager, client_settings
from .store import Job, new_id

FORM_FIELDS = ("content", "style", "settings", "blend", "content_labels", "style_labels")
#: Longest upload file name kept for the page (longer ones are cut with an ellipsis).
NAME_CHARS = 80
#: Uploads decoded at once: each may take a few hundred MB at the pixel limit.
DECODE_SLOTS = 2

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises TooLarge once the body passes ``limit`` bytes."""
    seen = 0

    async def wrapped() -> MutableMapping[str, Any]:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise TooLarge(f"the upload is over {limit / 2**20:.3g} MB (--max-upload-mb)")
        return message

    return wrapped


class Uploads:
    """Turns ``POST /api/jobs`` requests into queued jobs of ``manager``."""

    def __init__(self, config: ServeConfig, manager: JobManager) -> None:
        self.config, self.manager = config, manager
        self.decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)

    async def submit(self, request: Request) -> Job:
        """Read, check and queue the job in ``request``'s form."""
        config = self.config
        # Before reading megabytes that would be refused anyway.
        self.manager.check_capacity()
        self.manager.check_disk()
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > config.max_upload_bytes:
            mb = config.max_upload_bytes / 2**20
            raise TooLarge(f"the upload is over {mb:.3g} MB (--max-upload-mb)")
        limited = Request(request.scope, _limited(request.receive, config.max_upload_bytes))
        try:
            # the photo, the styles, and as many label maps
            form = await limited.form(max_files=2 * (config.max_styles + 1), max_fields=8)
        except GramstyleError:
            raise
        except OSError as e:  # the parser spools big parts to temporary files
            kind = DiskFull if is_disk_full(e) else GramstyleError
            raise kind(f"the upload could not be stored: {os_reason(e)}") from None
        except Exception as e:  # python-multipart's errors: not a multipart body
            raise BadRequest(f"the body is not multipart/form-data ({e})") from None
        try:
            return await self._job(form)
        finally:
            await form.close()

    async def _job(self, form: Any) -> Job:
        config = self.config
        unknown = sorted(set(form.keys()) - set(FORM_FIELDS))
        if unknown:
            raise BadRequest(
                f"unknown form field {unknown[0]!r} (expected {', '.join(FORM_FIELDS)})"
            )
        content = form.getlist("content")
        styles = form.getlist("style")
        if len(content) != 1 or not isinstance(content[0], UploadFile):
            raise BadRequest("give the photo as one file in the form field 'content'")
        if not styles or not all(isinstance(f, UploadFile) for f in styles):
            raise BadRequest("give one or more style images as files in the field 'style'")
        if len(styles) > config.max_styles:
            raise BadRequest(f"at most {config.max_styles} styles per job")
        texts: dict[str, str | None] = {}
        for name in ("settings", "blend"):
            values = form.getlist(name)
            if len(values) > 1 or (values and not isinstance(values[0], str)):
                raise BadRequest(f"give {name} once, as text")
            texts[name] = values[0] if values else None
        settings = job_settings(texts["settings"], config)
        blend = job_blend(texts["blend"], len(styles))
        c_labels, s_labels = form.getlist("content_labels"), form.getlist("style_labels")
        if not all(isinstance(f, UploadFile) for f in [*c_labels, *s_labels]) or len(c_labels) > 1:
            raise BadRequest(
                "give label maps as files: one 'content_labels', a 'style_labels' each"
            )
        check_labels(c_labels[0] if c_labels else None, s_labels, len(styles))
        files = [("content", "content image", content[0])] + [
            (f"style_{k}", f"style image {k}", f) for k, f in enumerate(styles, start=1)
        ]
        maps = [("content_labels", "content labels", f) for f in c_labels] + [
            (f"style_labels_{k}", f"style {k} labels", f) for k, f in enumerate(s_labels, start=1)
        ]
        staged = self.manager.store.staging()
        try:
            sizes = []
            for name, what, upload in files + maps:
                data = await upload.read()
                sizes.append(await asyncio.to_thread(self._decode, data, staged, name, what))
            if maps:  # label maps, not photos, with regions: refused now, not in the queue
                await asyncio.to_thread(self._check_maps, staged, sizes, len(styles))
            job = Job(
                id=new_id(),
                settings=client_settings(settings),
                styles=len(styles),
                blend=blend,
                width=sizes[0][0],
                height=sizes[0][1],
                preset=job_preset(texts["settings"]),
                names=[upload_name(f.filename, what) for _, what, f in files],
                labels=bool(maps),
            )
            return self.manager.submit(job, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise

    def _decode(self, data: bytes, folder: Path, name: str, what: str) -> tuple[int, int]:
        with self.decode_slots:
            return reencode_png(
                data, folder / f"{name}.png", what, self.config.max_pixels, folder / thumb(name)
            )

    def _check_maps(self, folder: Path, sizes: list[tuple[int, int]], n_styles: int) -> None:
        """Each label map read as the job will read it (:func:`read_label_maps`): one
        line (422) for a photo, or a map with no region, before the job is queued."""
        from ..nn.labels import read_label_maps

        hws = [(h, w) for w, h in sizes[: n_styles + 1]]
        styles = [folder / f"style_labels_{k}.png" for k in range(1, n_styles + 1)]
        with self.decode_slots:
            read_label_maps(folder / "content_labels.png", styles, hws[0], hws[1:])


def thumb(name: str) -> str:
    """The file name of an input's small copy (``content`` -> ``content.thumb.jpg``)."""
    return f"{name}.thumb.jpg"


def upload_name(filename: str | None, what: str) -> str:
    r"""A file name fit to show: its last path part, printable, at most
    :data:`NAME_CHARS` characters; ``what`` when the client sent none.

    >>> upload_name("C:\\photos\\cup\x07.jpg", "content image")
    'cup.jpg'
    >>> upload_name("", "style image 1")
    'style image 1'
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(c for c in base if c.isprintable()).strip()
    if len(shown) > NAME_CHARS:
        shown = shown[: NAME_CHARS - 1] + "…"
    return shown or what
