"""Device and precision are chosen once, here; everything else follows the input tensor."""

from __future__ import annotations

import contextlib
import os

import torch

from .errors import GramstyleError
from .settings import Settings


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


#: Precision names and the autocast dtypes they stand for (None: float32, no autocast).
DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def dtype_name(dtype: torch.dtype | None) -> str:
    """``None`` -> ``"fp32"``, ``torch.bfloat16`` -> ``"bf16"`` ...

    >>> dtype_name(None), dtype_name(torch.float16)
    ('fp32', 'fp16')
    """
    return next(name for name, d in DTYPES.items() if d == dtype)


def autocast(device_type: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast for the network passes, or nothing for float32 (``dtype=None``)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype)


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_ram(s: Settings, need: int) -> None:
    """Refuse a CPU run whose rough peak ``need`` (bytes, erring low) exceeds this
    machine's whole RAM, before it starts: without it the kernel's out-of-memory
    killer ends the process with no message, or a ``MemoryError`` comes after minutes."""
    if s.device not in ("auto", "cpu") or pick_device(s.device).type != "cpu":
        return  # GPU memory is the device's business; torch reports it cleanly
    ram = physical_memory()
    if ram is not None and need > ram:
        raise GramstyleError(
            f"--size {s.size} needs about {need / 2**30:.0f} GiB of memory, more than this "
            f"machine has ({ram / 2**30:.0f} GiB); lower --size or a smaller --tile"
        )
