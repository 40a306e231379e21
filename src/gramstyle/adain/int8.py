"""int8 copies of feed-forward conv nets for the CPU (PyTorch's x86/fbgemm backend).

Post-training static quantisation in eager mode: each ``Conv2d`` followed by a
``ReLU`` is fused into one op, weights become int8 per output channel, activations
uint8 per tensor with ranges measured on calibration images (a histogram observer
that picks the range minimising the quantisation error, not the raw min/max).
The input is quantised once at the start and the output dequantised at the end;
everything between (reflection padding, max pooling, nearest upsampling) runs on
int8 tensors. Used by :class:`gramstyle.adain.engine.AdainModel`; nothing here is specific
to AdaIN.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable

import torch
from torch import Tensor, nn

#: The quantised engine to use, best first (``x86`` picks fbgemm or oneDNN per op).
ENGINES = ("x86", "fbgemm")


def int8_engine() -> str | None:
    """The fast int8 CPU engine this build of torch has, or None.

    fbgemm needs AVX2 (it uses VNNI where the CPU has it); without AVX2 int8
    convolutions are slower than float32.
    """
    cap = torch.backends.cpu.get_cpu_capability()
    if cap not in ("AVX2", "AVX512", "AVX512_BF16", "AMX"):
        return None
    supported = torch.backends.quantized.supported_engines
    return next((e for e in ENGINES if e in supported), None)


class _Quantised(nn.Module):
    """``dequant(body(quant(x)))``: float in, float out."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.body = body
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: Tensor) -> Tensor:
        return self.dequant(self.body(self.quant(x)))


def _fuse_conv_relu(module: nn.Module) -> nn.Module:
    """Every ``Conv2d, ReLU`` pair in an ``nn.Sequential`` (at any depth) becomes one
    fused module: one int8 op, no int8 round trip in between. Works in place."""
    for name, child in module.named_children():
        setattr(module, name, _fuse_conv_relu(child))
    if not isinstance(module, nn.Sequential):
        return module
    mods, i = list(module), 0
    out: list[nn.Module] = []
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU):
            out.append(torch.ao.nn.intrinsic.ConvReLU2d(m, nn.ReLU()))
            i += 2
        else:
            out.append(m)
            i += 1
    return nn.Sequential(*out)


def quantize_int8(
    seq: nn.Sequential, calibration: Iterable[Tensor], engine: str, observer: str = "histogram"
) -> nn.Module:
    """An int8 copy of ``seq`` (float ``(B, C, H, W)`` in and out); ``seq`` is unchanged.

    ``calibration``: inputs of the kind the model will see, used only to measure the
    activation ranges. ``engine``: from :func:`int8_engine`.
    """
    torch.backends.quantized.engine = engine
    model = _Quantised(_fuse_conv_relu(copy.deepcopy(seq).float())).eval()
    qconfig = torch.ao.quantization.get_default_qconfig(engine)
    if observer == "minmax":
        act = torch.ao.quantization.MinMaxObserver.with_args(reduce_range=True)
        qconfig = torch.ao.quantization.QConfig(activation=act, weight=qconfig.weight)
    model.qconfig = qconfig
    with warnings.catch_warnings():
        # torch >= 2.10 points eager-mode quantisation users to torchao; the API still
        # works and needs no extra package, so the notice is not for our users.
        warnings.simplefilter("ignore")
        torch.ao.quantization.prepare(model, inplace=True)
        with torch.no_grad():
            for x in calibration:
                model(x)
        torch.ao.quantization.convert(model, inplace=True)
    return model
