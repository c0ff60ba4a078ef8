"""Hand freed heap memory back to the system.

CPython returns small objects to its own pools, and glibc's ``malloc`` keeps
what was freed in its arenas: after a burst (restoring every rendered feed at
start-up, re-rendering feeds after a scrape) the serving process would stay as
large as its peak. ``malloc_trim(0)`` releases the free pages of every arena.
Elsewhere than glibc (musl, macOS) there is no such call and nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def trim() -> bool:
    """Release the allocator's free memory to the system; True when the allocator could."""
    release = _malloc_trim()
    if release is None:
        return False
    return bool(release(0))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        function = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        log.debug("no malloc_trim in %s: freed memory stays with the allocator", name)
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    released: Callable[[int], int] = function
    return released
