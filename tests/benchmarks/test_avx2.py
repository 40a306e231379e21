import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import avx2

FLAGS = avx2._cpu_flags()


def test_the_environment_names_avx2_everywhere():
    if "avx2" not in FLAGS:
        pytest.skip("no AVX2 on this CPU")
    if FLAGS & {"avx512f", "avx_vnni", "amx_tile"} and "cpuid_fault" not in FLAGS:
        pytest.skip("AVX-512 without CPUID faulting: the wrapper refuses (tested below)")
    env = avx2.environment({"LD_PRELOAD": "/x/other.so"})
    assert env["GRAMSTYLE_BENCH_ISA"] == "avx2"
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["LD_PRELOAD"].endswith("/x/other.so")  # the caller's preload is kept


def test_masked_torch_finds_avx2_only():
    needs = {"avx2", "cpuid_fault"}
    if not needs <= FLAGS:
        pytest.skip("needs AVX2 and CPUID faulting")
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    env = {k: v for k, v in avx2.environment().items() if k != "ATEN_CPU_CAPABILITY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "AVX2"


def test_help_without_a_command_is_a_usage_error(capsys):
    assert avx2.main([]) == 2
    assert "AVX2" in capsys.readouterr().out


def test_an_avx512_cpu_without_cpuid_faulting_is_refused(monkeypatch):
    monkeypatch.setattr(avx2, "_cpu_flags", lambda: {"avx2", "avx512f"})
    monkeypatch.setattr(avx2, "library", lambda: Path(os.devnull))
    with pytest.raises(SystemExit, match="no CPUID faulting"):
        avx2.environment({})
