"""How AdaIN's feed-forward networks run: fp32, bf16, fp16 or int8."""

from __future__ import annotations

import torch

from ..device import dtype_name, pick_precision
from ..errors import GramstyleError
from . import int8

#: What ``--precision`` may name for the AdaIN networks (int8 only there: no gradients).
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def pick_adain_precision(name: str, device: torch.device) -> str:
    """``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"`` for ``--precision name``.

    ``auto``: on a CPU, int8 where torch has a fast int8 engine (fbgemm: AVX2 or
    better; measured 2x fp32 on AVX2 and 3.5x with AVX-512 VNNI), else bf16 where the
    CPU has it natively, else fp32; elsewhere what
    :func:`gramstyle.device.pick_precision` picks.
    """
    if name not in PRECISIONS:
        raise GramstyleError(f"precision must be one of {', '.join(PRECISIONS)}")
    if name == "int8":
        if device.type != "cpu" or int8.int8_engine() is None:
            raise GramstyleError(
                "int8 needs a CPU with AVX2 and torch's fbgemm engine; use fp32 or bf16"
            )
        return "int8"
    if name == "auto" and device.type == "cpu" and int8.int8_engine() is not None:
        return "int8"
    return dtype_name(pick_precision(name, device))
