"""Giving freed heap back to the system.

glibc keeps memory a process freed for its next allocations, in every thread's arena: a server
whose threads each handled pages now and then holds the high-water mark of all of them, and a
worker that met one large page holds that page's tree long after. `malloc_trim(0)` returns the
free pages of every arena. Elsewhere than glibc it is not there, and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _load_trim() -> Callable[[], object] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None
    return lambda: trim(0)


_malloc_trim = _load_trim()


def trim_heap() -> None:
    """Return the heap's free pages to the system (glibc), at the cost of a walk over its arenas."""
    if _malloc_trim is not None:
        _malloc_trim()
