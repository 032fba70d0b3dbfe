"""Giving freed memory back to the operating system (glibc's ``malloc_trim``).

A daemon that has worked through a backlog (a broker returning with minutes of queued samples,
a restart restoring every device) frees what the backlog took, but glibc keeps the freed heap
pages mapped: the resident size stays at the high-water mark, and on an edge box that looks
like, and is as costly as, a leak. :func:`trim_heap` asks glibc to return them; elsewhere (musl,
macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    return lib if hasattr(lib, "malloc_trim") else None


def trim_heap() -> bool:
    """Return the heap's free pages to the OS; True when glibc did (some memory was released)."""
    lib = _libc()
    return bool(lib is not None and lib.malloc_trim(0))


__all__ = ["trim_heap"]
