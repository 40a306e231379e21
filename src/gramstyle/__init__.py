"""gramstyle: neural style transfer (Gatys et al.) as a silent library and a CLI.

>>> import torch, gramstyle
>>> a = torch.rand(1, 8, 5, 5)
>>> gramstyle.gram_matrix(a).shape
torch.Size([1, 8, 8])
"""

from .backbone import LAYER_NAMES, VGG19
from .config import Settings
from .errors import GramstyleError
from .image import load_image, save_image
from .losses import (
    content_cost,
    gram_matrix,
    layer_style_cost,
    style_cost,
    total_cost,
    tv_cost,
)
from .pipeline import StepRecord, stylize, stylize_iter
from .report import explain
from .run import RunState
from .session import Stylizer
from .weights import load_vgg19

__all__ = [
    "LAYER_NAMES",
    "VGG19",
    "GramstyleError",
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
    "save_image",
    "style_cost",
    "stylize",
    "stylize_iter",
    "total_cost",
    "tv_cost",
]
__version__ = "0.2.0"
