"""The machine-facing helpers (device.py): the heap policy for tiled runs."""

from __future__ import annotations

import resource

import pytest

from gramstyle import device
from gramstyle.device import keep_freed_memory

N = 256 * 2**20  # a large block, as a tile's activations are
PAGES = N // 4096


def faults_of_a_second_block() -> int:
    """Minor page faults while a block of N bytes is made (zeroed) after one was freed."""
    first = bytearray(N)
    del first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = bytearray(N)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del second
    return faults


@pytest.mark.skipif(device._glibc() is None, reason="glibc only")
def test_freed_blocks_are_reused_inside_and_given_back_after():
    with keep_freed_memory():
        kept = faults_of_a_second_block()
    plain = faults_of_a_second_block()  # the defaults are back: mapped afresh
    assert plain > PAGES // 2
    assert kept < PAGES // 20


@pytest.mark.skipif(device._glibc() is None, reason="glibc only")
def test_off_changes_nothing():
    with keep_freed_memory(False):
        assert faults_of_a_second_block() > PAGES // 2


def test_without_glibc_the_block_just_runs(monkeypatch):
    monkeypatch.setattr(device, "_glibc", lambda: None)
    ran = []
    with keep_freed_memory():
        ran.append(1)
    assert ran == [1]
