"""Run a command as on an AVX2-only x86 CPU, on a machine that has AVX-512 too.

    python benchmarks/avx2.py python benchmarks/adain.py --sizes 512
    python benchmarks/avx2.py --check      # what torch sees, masked and not

Most users' CPUs have AVX2 and no AVX-512, AVX-VNNI or AMX (Zen 3, Intel client parts);
torch, oneDNN and fbgemm can be held to AVX2 by environment variables, but ONNX
Runtime's kernels (MLAS) choose by the CPUID instruction and have no such switch. So
this wrapper loads ``cpuid_avx2.c`` (compiled here with ``cc``, once) into the
command and its children: Linux's CPUID faulting makes every CPUID trap, and the
library answers with the AVX-512, AMX and VNNI bits cleared. Every library then finds
an AVX2 CPU, as it would on one; the environment variables are set as well, and
``GRAMSTYLE_BENCH_ISA=avx2`` tells :mod:`benchmarks.record` that the run was masked.
Needs x86-64 Linux with the ``cpuid_fault`` CPU flag (recent Intel and AMD; most
virtual machines pass it through).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("cpuid_avx2.c")
#: Torch, oneDNN and fbgemm held to AVX2 by their own switches (ONNX Runtime has none).
KERNEL_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
}
#: Everything the wrapper sets besides the preloaded mask (and shown in the records).
ENV = {
    **KERNEL_ENV,
    # glibc reads CPUID before any preloaded library: its string functions, masked here.
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512CD,-AVX512BW,-AVX512DQ,-AVX512VL",
    "GRAMSTYLE_BENCH_ISA": "avx2",
}


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def library() -> Path:
    """The compiled mask, made once per source version (in the temporary folder)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"gramstyle-cpuid-avx2-{digest}.so"
    if not out.is_file():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE)], check=True)
        os.replace(tmp, out)
    return out


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's) with the mask preloaded and the variables set."""
    env = dict(os.environ if base is None else base)
    flags = _cpu_flags()
    if "avx2" not in flags:
        raise SystemExit("this CPU has no AVX2: nothing to stand in for")
    preload = [str(library())] if flags & {"avx512f", "avx_vnni", "amx_tile"} else []
    if preload and "cpuid_fault" not in flags:
        raise SystemExit("this CPU has AVX-512 and no CPUID faulting: run on an AVX2 machine")
    if env.get("LD_PRELOAD"):
        preload.append(env["LD_PRELOAD"])
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    return {**env, **ENV}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    if args[0] == "--check":
        code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
        probe = [sys.executable, "-c", code]
        plain = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
        masked = {k: v for k, v in environment().items() if k != "ATEN_CPU_CAPABILITY"}
        for name, env in (("this CPU", plain), ("masked", masked)):
            out = subprocess.run(probe, env=env, capture_output=True, text=True, check=True)
            print(f"{name}: torch finds {out.stdout.strip()}")
        return 0
    os.execvpe(args[0], args, environment())
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
