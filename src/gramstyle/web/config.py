"""What a server accepts: its limits, and the job settings a client may choose.

Job settings arrive as JSON of :class:`~gramstyle.settings.Settings` fields and are
validated by ``Settings`` itself (one source of defaults and checks). Fields that reach
the server's files or hardware (weights, device, an init *file*) are the server's
choice, never a client's.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GramstyleError
from ..ranges import parse_layer_weights
from ..request import blend_weights
from ..settings import Settings, field_kinds, inits
from .errors import BadRequest

#: Settings fields only the server sets (``gramstyle serve --weights ...``): they name
#: files or devices of the server's machine.
SERVER_FIELDS = ("weights", "weights_sha256", "device")
#: What a client's JSON (settings, blend) may be: characters, nesting, and the length
#: of one number (every setting fits in far fewer; Python's int() stops at 4300 digits).
MAX_JSON_CHARS = 16_384
MAX_JSON_DEPTH = 4
MAX_NUMBER_CHARS = 32


def default_workers() -> int:
    """Worker processes that fit this machine: one per 4 cores, at least one.

    Each worker runs torch on ``cores // workers`` threads; on 2 cores one worker with 2
    threads finishes a queue sooner than two workers fighting over them.
    """
    return max(1, available_cores() // 4)


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ServeConfig:
    """A server's folder, limits and server-side settings (``gramstyle serve`` options)."""

    jobs_dir: Path
    token: str | None = None
    workers: int = field(default_factory=default_workers)
    #: torch threads per worker (None: the cores shared out between the workers).
    threads: int | None = None
    #: Jobs accepted and not finished (queued + running); more get 429.
    max_queue: int = 16
    #: Bytes of one upload request (photo and styles together); more get 413.
    max_upload_bytes: int = 25 * 2**20
    #: Pixels of one uploaded image, checked from its header before decoding; more get 413.
    max_pixels: int = 40_000_000
    #: Largest ``size`` (longest side of the result) a job may ask for.
    max_size: int = 1024
    #: Largest ``steps`` and ``coarse_steps`` a job may ask for.
    max_steps: int = 1000
    max_styles: int = 4
    #: Defaults of every job, and the only source of SERVER_FIELDS.
    base: Settings = field(default_factory=Settings)
    #: Seconds between two preview JPEGs of a running job (the first and last always).
    preview_every: float = 0.5
    #: Free bytes the jobs folder's disk must keep: below, health is degraded and new
    #: jobs get 507 (a job needs a few MB; a full disk fails jobs half-way).
    min_free_bytes: int = 256 * 2**20

    def __post_init__(self) -> None:
        checks = [
            (self.workers >= 1, "--workers must be at least 1"),
            (self.threads is None or self.threads >= 1, "--threads must be at least 1"),
            (self.max_queue >= 1, "--max-queue must be at least 1"),
            (self.max_upload_bytes >= 1024, "--max-upload-mb is too small"),
            (self.max_pixels >= 256, "--max-pixels is too small"),
            (self.max_size >= 16, "--max-size must be at least 16"),
            (self.max_steps >= 1, "--max-steps must be at least 1"),
            (self.max_styles >= 1, "--max-styles must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise GramstyleError(message)


def _number(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise GramstyleError(f"setting {name} must be a finite number, got {json.dumps(v)}")
    return float(v)


def _coerce(name: str, v: object) -> object:
    """A JSON value -> the Settings field's type, or a one-line GramstyleError."""
    origin, optional = field_kinds()[name]
    if v is None and optional:
        return None
    if origin is int:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise GramstyleError(f"setting {name} must be an integer, got {json.dumps(v)}")
        return v
    if origin is float:
        return _number(name, v)
    if origin is bool:
        if not isinstance(v, bool):
            raise GramstyleError(f"setting {name} must be true or false, got {json.dumps(v)}")
        return v
    if origin is str:
        if not isinstance(v, str):
            raise GramstyleError(f"setting {name} must be a string, got {json.dumps(v)}")
        return v
    if origin is dict:  # layer weights: {"relu4_2": 1} or "relu4_2:1"
        if isinstance(v, str):
            return parse_layer_weights(v)
        if not isinstance(v, dict) or not v:
            raise GramstyleError(f"setting {name} must be an object of layer: weight")
        return {str(k): _number(f"{name}.{k}", w) for k, w in v.items()}
    raise AssertionError(f"no JSON form for Settings.{name}: {origin}")  # a new field type


def job_settings(text: str | None, config: ServeConfig) -> Settings:
    """Parse a client's ``settings`` JSON into :class:`Settings` on the server's base.

    ``"preset": NAME`` starts from a preset's settings (:mod:`gramstyle.presets`);
    the other fields of the object win over it.

    Raises :class:`~.errors.BadRequest` (400) when the text is not a JSON object and a
    GramstyleError (422) for an unknown field, a wrong type, a value ``Settings``
    refuses, or one over the server's limits.
    """
    data = _job_object(text)
    names = [f.name for f in dataclasses.fields(Settings)]
    preset = data.pop("preset", None)  # a named set of settings; the job's own fields win
    values: dict[str, object] = {}
    for key, value in data.items():
        if key not in field_kinds():
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise GramstyleError(f"unknown setting {key!r}{hint}")
        if key in SERVER_FIELDS:
            raise GramstyleError(f"setting {key} is chosen by the server, not per job")
        values[key] = _coerce(key, value)
    s = config.base.with_preset(preset, **values) if preset else config.base.replace(**values)
    from ..nn.backbone import check_layer_names  # torch: once the JSON is known to be good

    check_layer_names([*s.content_layers, *s.style_layers])
    if s.init not in inits():  # a path would read a file of the server's
        raise GramstyleError(f"init must be one of {', '.join(inits())}")
    limits = [
        (s.size <= config.max_size, f"size is at most {config.max_size} on this server"),
        (
            s.style_size is None or s.style_size <= 2 * config.max_size,
            f"style_size is at most {2 * config.max_size} on this server",
        ),
        (
            s.style_scale is None or s.style_scale <= 4,
            "style_scale is at most 4 on this server",
        ),
        (
            max(s.steps, s.coarse_steps) <= config.max_steps,
            f"steps and coarse_steps are at most {config.max_steps} on this server",
        ),
    ]
    for ok, message in limits:
        if not ok:
            raise GramstyleError(message)
    return s


def job_preset(text: str | None) -> str | None:
    """The preset named in a client's ``settings`` JSON, or None (checked as there)."""
    return _job_object(text).get("preset")


def _job_object(text: str | None) -> dict[str, typing.Any]:
    """The ``settings`` form field as a JSON object, its ``preset`` (if any) a string."""
    data = load_json(text, "settings") if text and text.strip() else {}
    if not isinstance(data, dict):
        raise BadRequest('settings must be a JSON object of Settings fields, e.g. {"size": 512}')
    preset = data.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise GramstyleError(f"preset must be a string, got {preset!r}")
    return data


def job_blend(text: str | None, n_styles: int) -> list[float] | None:
    """The ``blend`` form field (JSON list or ``"0.7,0.3"``) -> weights normalised to sum 1."""
    if text is None or not text.strip():
        return None
    if text.lstrip().startswith("["):
        raw = load_json(text, "blend")
    else:
        _check_size(text, "blend")
        raw = [_number_text(v.strip(), "blend") for v in text.split(",")]
    if not isinstance(raw, list):
        raise GramstyleError(f"blend must be numbers, one per style, got {text[:80]!r}")
    try:
        weights = [float(v) for v in raw]
    except (TypeError, ValueError):
        raise GramstyleError(f"blend must be numbers, one per style, got {text[:80]!r}") from None
    return blend_weights(weights, n_styles)


# ---------------------------------------------------------------- JSON with limits


def load_json(text: str, what: str) -> typing.Any:
    """``text`` as JSON, its size, nesting and numbers checked before they are converted.

    Python's parser recurses once per level (deep nesting is a RecursionError) and
    ``int()`` refuses more than 4300 digits (a ValueError): both would be a 500, so the
    text is measured first and numbers are converted by hooks that check their length.
    Raises :class:`~.errors.BadRequest` (400) for anything that is not small, plain JSON.
    """
    _check_size(text, what)
    if _depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text,
            parse_int=lambda s: int(_number_text(s, what)),
            parse_float=lambda s: float(_number_text(s, what)),
        )
    except json.JSONDecodeError as e:
        raise BadRequest(f"{what} is not valid JSON ({e.msg} at character {e.pos})") from None


def _check_size(text: str, what: str) -> None:
    if len(text) > MAX_JSON_CHARS:
        raise BadRequest(f"{what} is over {MAX_JSON_CHARS} characters")


def _number_text(text: str, what: str) -> str:
    """A number's text, refused when longer than any setting needs."""
    if len(text) > MAX_NUMBER_CHARS:
        raise BadRequest(
            f"{what} has a number of {len(text)} characters; at most {MAX_NUMBER_CHARS}"
        )
    return text


def _depth(text: str) -> int:
    """How deep brackets nest in ``text``, outside strings (no parsing, no recursion)."""
    depth = deepest = 0
    quoted = escaped = False
    for ch in text:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest
