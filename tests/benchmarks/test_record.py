"""benchmarks/record.py: every benchmark run leaves a record with what made its numbers."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


record = _load("bench_record", ROOT / "benchmarks" / "record.py")

LSCPU = """\
Architecture:                            x86_64
CPU(s):                                  8
Model name:                              Example Xeon 1234
Thread(s) per core:                      2
Core(s) per socket:                      4
Socket(s):                               1
Flags:                                   fpu sse avx2 avx512f avx512_vnni amx_bf16 amx_tile
"""


def test_machine_reads_lscpu():
    m = record.machine(lscpu=LSCPU)
    assert m["model"] == "Example Xeon 1234"
    assert (m["cores"], m["threads"]) == (4, 8)
    assert m["flags"] == {
        "avx2": True,
        "avx512f": True,
        "avx512_bf16": False,
        "avx512_vnni": True,
        "amx": True,
    }


def test_machine_falls_back_to_cpuinfo():
    cpuinfo = "processor\t: 0\nmodel name\t: Old CPU\nflags\t\t: fpu sse2 avx2\n"
    m = record.machine(lscpu="", cpuinfo=cpuinfo)
    assert m["model"] == "Old CPU"
    assert m["flags"]["avx2"] and not m["flags"]["avx512f"] and not m["flags"]["amx"]


def test_write_holds_everything_a_figure_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    now = dt.datetime(2026, 12, 7, 4, 58, 21, tzinfo=dt.timezone.utc)
    results = {"rows": [{"wall": 1.5, "J": float("nan"), "size": (433, 577)}], "p": Path("x")}
    path = record.write(
        "speed",
        results,
        script=ROOT / "benchmarks" / "speed.py",
        argv=["--sizes", "256"],
        folder=tmp_path,
        now=now,
    )
    assert path == tmp_path / "speed-20261207-045821.json"
    rec = json.loads(path.read_text())  # strict JSON: NaN would not parse in other tools
    assert rec["schema"] == record.SCHEMA and rec["name"] == "speed"
    assert rec["command"] == "python benchmarks/speed.py --sizes 256"
    assert rec["date"] == "2026-12-07T04:58:21Z"
    if (ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", rec["commit"]["sha"])
        assert isinstance(rec["commit"]["dirty"], bool)
    else:  # a source archive: no commit to name, and the record says so
        assert rec["commit"] == {"sha": None, "dirty": None}
    assert set(rec["machine"]["flags"]) == set(record.FLAGS)
    assert rec["machine"]["model"] and rec["machine"]["threads"]
    assert rec["software"]["torch"] and "onnxruntime" in rec["software"]
    assert rec["env"]["OMP_NUM_THREADS"] == "2" and rec["env"]["ONEDNN_MAX_CPU_ISA"] is None
    assert rec["results"] == {"rows": [{"wall": 1.5, "J": None, "size": [433, 577]}], "p": "x"}
    # A second record in the same second gets its own file; nothing is overwritten.
    again = record.write("speed", {}, folder=tmp_path, now=now)
    assert again.name == "speed-20261207-045821-2.json"
    assert json.loads(path.read_text())["results"]["p"] == "x"
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_the_folder_can_be_redirected(tmp_path, monkeypatch):
    monkeypatch.setenv(record.FOLDER_ENV, str(tmp_path / "trial"))
    path = record.write("adain", {"latency": []}, argv=[])
    assert path.parent == tmp_path / "trial"


#: Runs another benchmark (which writes the record) and measures nothing itself.
WRAPPERS = {"avx2.py"}


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in (ROOT / "benchmarks").glob("*.py")
        if "def main(" in p.read_text() and p.name not in WRAPPERS
    ),
    ids=lambda p: p.name,
)
def test_every_benchmark_writes_a_record(path):
    # A benchmark whose numbers may reach the benchmark page must leave a record.
    assert "record.write(" in path.read_text(), f"{path.name} writes no record"


def test_the_examples_in_the_docstrings():
    import doctest

    assert doctest.testmod(record).failed == 0
