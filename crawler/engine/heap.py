"""Giving freed heap back to the system, and keeping inherited memory shared.

glibc keeps memory a process freed for its next allocations, in every thread's arena: a server
whose threads each handled pages now and then holds the high-water mark of all of them, and a
worker that met one large page holds that page's tree long after. `malloc_trim(0)` returns the
free pages of every arena. Elsewhere than glibc it is not there, and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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


def share_inherited() -> None:
    """Called first by a process forked from another (an extraction worker, the index writer): the
    objects it inherited go to the collector's permanent generation. A full collection writes to
    every object it visits, which would copy each page the child shares with its parent, one by
    one, into memory of its own; frozen objects are never visited, so those pages stay shared."""
    gc.freeze()
