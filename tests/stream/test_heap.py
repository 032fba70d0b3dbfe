from __future__ import annotations

import numpy as np
import pytest

from affectstream.stream.heap import _libc, trim_heap


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(_libc() is None, reason="not glibc: malloc_trim does not exist here")
def test_memory_a_backlog_freed_goes_back_to_the_os():
    """A backlog of chunks (80 MB of 2 KB arrays) freed except every 16th: glibc keeps the
    freed pages between the survivors mapped until trim_heap gives them back."""
    trim_heap()
    base = _rss_mb()
    backlog = [np.ones(256) for _ in range(40_000)]
    kept = backlog[::16]
    del backlog
    held = _rss_mb()
    assert held - base > 40  # freed, yet still resident
    assert trim_heap()
    assert _rss_mb() < held - 40
    assert all(float(k.sum()) == 256.0 for k in kept)
