"""The methods by name: registered here once, looked up by every app.

Each built-in method is a package whose ``__init__`` holds its torch-free
:class:`~gramstyle.method.MethodInfo` as ``INFO``; its engine (``INFO.engine``) is
imported when a picture is first made, so ``--help`` and a bad option never load torch.
A plug-in adds one with :func:`register`, or is found by name: an installed package's
entry point in the group ``gramstyle.methods``, or ``GRAMSTYLE_METHODS`` (comma-separated
``module:attribute`` of a ``MethodInfo``), so worker processes find it too.

>>> names()[:2]
('gatys', 'adain')
>>> info("adain").iterative
False
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .errors import GramstyleError

if TYPE_CHECKING:
    from .method import Method, MethodInfo

#: The built-in methods, in the order --help lists them; the first is the default.
BUILTIN = {"gatys": "gramstyle.gatys", "adain": "gramstyle.adain"}

#: ``module:attribute`` of plug-in MethodInfos to load, comma-separated.
PLUGINS_ENV = "GRAMSTYLE_METHODS"

_infos: dict[str, MethodInfo] = {}
_engines: dict[str, Method] = {}
_found = False


def _load(ref: str) -> Any:
    module, _, attr = ref.strip().partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise GramstyleError(f"cannot load the method {ref!r}: {e}") from None


def _discover() -> None:
    """Plug-ins named by entry points and by :data:`PLUGINS_ENV`, once per process."""
    global _found
    if _found:
        return
    _found = True
    refs = [ep.value for ep in entry_points(group="gramstyle.methods")]
    refs += [r for r in os.environ.get(PLUGINS_ENV, "").split(",") if r.strip()]
    for ref in refs:
        info_ = _load(ref)
        _infos.setdefault(info_.name, info_)


def register(info: MethodInfo, engine: Method | None = None) -> None:
    """Make a method known by ``info.name`` (``engine``: its Method, else ``info.engine``
    is imported when first needed). Registering a name again replaces it."""
    _infos[info.name] = info
    _engines.pop(info.name, None)
    if engine is not None:
        _engines[info.name] = engine


def unregister(name: str) -> None:
    """Forget a method registered with :func:`register` (the built-ins come back)."""
    _infos.pop(name, None)
    _engines.pop(name, None)


def names() -> tuple[str, ...]:
    """Every method's name, the built-ins first."""
    _discover()
    return tuple(dict.fromkeys([*BUILTIN, *_infos]))


def info(name: str) -> MethodInfo:
    """The method ``name``'s description, or a one-line error naming the known ones."""
    _discover()
    if name not in _infos:
        if name not in BUILTIN:
            raise GramstyleError(f"method must be one of {', '.join(names())}, got {name!r}")
        _infos[name] = importlib.import_module(BUILTIN[name]).INFO
    return _infos[name]


def engine(name: str) -> Method:
    """The method ``name``'s engine (imported, and made, once)."""
    if name not in _engines:
        _engines[name] = _load(info(name).engine)
    return _engines[name]


def is_method(name: Any) -> bool:
    return isinstance(name, str) and name in names()
