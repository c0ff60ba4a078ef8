"""Specification of feedsvc.heap: freed memory goes back to the system where the allocator allows."""

from __future__ import annotations

import platform

import pytest

from feedsvc import heap


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_gives_freed_memory_back_on_glibc() -> None:
    chunks = [bytes(2048) for _ in range(40_000)]  # ~80 MB of small blocks, below the mmap threshold
    keep = chunks[::1000]
    del chunks
    before = _resident_bytes()
    assert heap.trim() is True
    assert _resident_bytes() < before - 20_000_000
    assert keep
