"""Errors a request can cause, each mapped to one HTTP status by :mod:`.app`.

All are :class:`~gramstyle.errors.GramstyleError`; a plain one (bad image, bad setting
value) is 422 and :class:`~gramstyle.errors.TooLarge` is 413.
"""

from __future__ import annotations

from ..errors import GramstyleError


class BadRequest(GramstyleError):
    """A malformed request (settings that are not JSON, an unknown form field): 400."""


class UnknownJob(GramstyleError):
    """No job with this id (or not a valid id at all): 404."""


class NotReady(GramstyleError):
    """The job exists but has no such image yet (no preview, not done): 409."""


class QueueFull(GramstyleError):
    """As many jobs are waiting or running as the server accepts: 429."""


class Unavailable(GramstyleError):
    """The server cannot take work now (its jobs folder cannot be written): 503."""
