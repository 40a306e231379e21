"""gramstyle: neural style transfer (Gatys et al.) as a silent library and a CLI.

>>> import torch, gramstyle
>>> a = torch.rand(1, 8, 5, 5)
>>> gramstyle.gram_matrix(a).shape
torch.Size([1, 8, 8])

The public names are imported on first use (module ``__getattr__``), so
``import gramstyle`` and the ``gramstyle`` command start without importing torch: the
CLI installs its Ctrl-C and SIGTERM handling first, and a signal during the first
second is one line, not a traceback. Add a new public name to ``_LAZY`` (and to the
``TYPE_CHECKING`` block), not as an import at the top.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the submodule that defines it
_LAZY = {
    "LAYER_NAMES": "nn.backbone",
    "VGG19": "nn.backbone",
    "Settings": "settings",
    "GramstyleError": "errors",
    "load_image": "image",
    "save_image": "image",
    "content_cost": "nn.losses",
    "gram_matrix": "nn.losses",
    "layer_style_cost": "nn.losses",
    "style_cost": "nn.losses",
    "total_cost": "nn.losses",
    "tv_cost": "nn.losses",
    "Record": "method",
    "RunState": "gatys.run",
    "StepRecord": "gatys.run",
    "Job": "job",
    "Stylizer": "session",
    "stylize": "session",
    "stylize_iter": "session",
    "stylize_video": "video",
    "explain": "insight.report",
    "load_vgg19": "nn.weights",
    "register": "registry",
}

if TYPE_CHECKING:
    from .errors import GramstyleError
    from .gatys.run import RunState, StepRecord
    from .image import load_image, save_image
    from .insight.report import explain
    from .job import Job
    from .method import Record
    from .nn.backbone import LAYER_NAMES, VGG19
    from .nn.losses import (
        content_cost,
        gram_matrix,
        layer_style_cost,
        style_cost,
        total_cost,
        tv_cost,
    )
    from .nn.weights import load_vgg19
    from .registry import register
    from .session import Stylizer, stylize, stylize_iter
    from .settings import Settings
    from .video import stylize_video


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gramstyle' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "LAYER_NAMES",
    "VGG19",
    "GramstyleError",
    "Job",
    "Record",
    "Settings",
    "RunState",
    "StepRecord",
    "Stylizer",
    "content_cost",
    "explain",
    "gram_matrix",
    "layer_style_cost",
    "load_image",
    "load_vgg19",
    "register",
    "save_image",
    "style_cost",
    "stylize",
    "stylize_iter",
    "stylize_video",
    "total_cost",
    "tv_cost",
]
__version__ = "0.2.0"
