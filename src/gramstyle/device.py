"""Device and precision are chosen once, here; everything else follows the input tensor."""

from __future__ import annotations

import torch

from .errors import GramstyleError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; a named device must be available."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise GramstyleError(f"device {name!r} is not available on this machine (try --device cpu)")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """True when the CPU has AVX-512 BF16 or AMX (bf16 matmuls faster than fp32)."""
    cap = torch.backends.cpu.get_cpu_capability()
    if cap not in ("AVX512", "AVX512_BF16", "AMX"):  # AVX2 emulates bf16: slower than fp32
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the network passes, or None for float32.

    ``auto`` uses fp16 on CUDA, bf16 on a CPU with native bf16, and fp32 otherwise.
    """
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        if device.type == "cpu":
            raise GramstyleError("fp16 is not supported on the CPU; use bf16 or fp32")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


#: What ``--precision`` may name for the AdaIN networks (int8 only there: no gradients).
ADAIN_PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def pick_adain_precision(name: str, device: torch.device) -> str:
    """How AdaIN's feed-forward networks run: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"``.

    ``auto``: on a CPU, int8 where torch has a fast int8 engine (fbgemm: AVX2 or
    better; measured 2x fp32 on AVX2 and 3.5x with AVX-512 VNNI), else bf16 where the
    CPU has it natively, else fp32; elsewhere what :func:`pick_precision` picks.
    """
    from .quantize import int8_engine

    if name not in ADAIN_PRECISIONS:
        raise GramstyleError(f"precision must be one of {', '.join(ADAIN_PRECISIONS)}")
    if name == "int8":
        if device.type != "cpu" or int8_engine() is None:
            raise GramstyleError(
                "int8 needs a CPU with AVX2 and torch's fbgemm engine; use fp32 or bf16"
            )
        return "int8"
    if name == "auto" and device.type == "cpu" and int8_engine() is not None:
        return "int8"
    dtype = pick_precision(name, device)
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
