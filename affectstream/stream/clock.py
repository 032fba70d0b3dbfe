"""Mapping senders' clocks to Unix time.

LSL stamps samples with ``local_clock()`` (seconds since an arbitrary start, the same on every
process of a machine). The receiver maps it to Unix time with one offset, measured once per
process (``time.time() - local_clock()``, the reading with the tightest bracket of five), so a
device's timeline never jumps while the daemon runs.
"""

from __future__ import annotations

import functools
import time


@functools.cache
def lsl_unix_offset() -> float:
    """Seconds to add to an LSL ``local_clock()`` time (of this machine) to get Unix time."""
    import pylsl

    best = (float("inf"), 0.0)
    for _ in range(5):
        a = time.time()
        lsl = pylsl.local_clock()
        b = time.time()
        if b - a < best[0]:
            best = (b - a, (a + b) / 2 - lsl)
    return best[1]


def lsl_to_unix(t: float) -> float:
    """An LSL time of this machine (seconds) as Unix time (seconds)."""
    return t + lsl_unix_offset()


def unix_to_lsl(t: float) -> float:
    """A Unix time (seconds) on this machine's LSL clock (seconds)."""
    return t - lsl_unix_offset()
