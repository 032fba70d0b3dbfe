"""Statistics of the items in a sliding window, kept up to date as items enter and leave.

Every structure holds items ``(key, value...)`` pushed with non-decreasing keys (a grid index:
where the item's evidence starts) and drops, on :meth:`evict`, those whose key is below the
window's start. Each push and each eviction costs O(1) (amortised), so a window that slides by
a hop costs in proportion to the hop, not to the window. The values are those a from-scratch
computation over the same items gives, to rounding (sums are re-added from the items once per
window's worth of evictions, so rounding does not accumulate).
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np


class SlidingSums:
    """Count, means, variances and the least-squares slope of pairs ``(x, y)`` in a window.

    Sums are kept relative to a reference pair (the oldest item when they were last re-added),
    so a time axis counted from the session's start does not cost precision.
    """

    __slots__ = ("_items", "_removed", "_rx", "_ry", "_sx", "_sxx", "_sxy", "_sy", "_syy", "n")

    def __init__(self) -> None:
        self._items: deque[tuple[int, float, float]] = deque()
        self._removed = 0
        self._rx = self._ry = 0.0
        self.n = 0
        self._sx = self._sy = self._sxx = self._syy = self._sxy = 0.0

    def push(self, key: int, x: float, y: float) -> None:
        """Add the pair ``(x, y)`` whose evidence starts at ``key``."""
        if not self._items:
            self._rx, self._ry = x, y
            self.n = 0
            self._sx = self._sy = self._sxx = self._syy = self._sxy = 0.0
        self._items.append((key, x, y))
        dx, dy = x - self._rx, y - self._ry
        self.n += 1
        self._sx += dx
        self._sy += dy
        self._sxx += dx * dx
        self._syy += dy * dy
        self._sxy += dx * dy

    def push_many(self, keys: list[int], x: np.ndarray, y: np.ndarray) -> None:
        """Add the pairs ``(x[i], y[i])`` whose evidence starts at ``keys[i]`` (increasing)."""
        if not keys:
            return
        if not self._items:
            self._rx, self._ry = float(x[0]), float(y[0])
            self.n = 0
            self._sx = self._sy = self._sxx = self._syy = self._sxy = 0.0
        self._items.extend(zip(keys, x.tolist(), y.tolist(), strict=True))
        dx, dy = x - self._rx, y - self._ry
        self.n += len(keys)
        self._sx += float(dx.sum())
        self._sy += float(dy.sum())
        self._sxx += float(np.dot(dx, dx))
        self._syy += float(np.dot(dy, dy))
        self._sxy += float(np.dot(dx, dy))

    def evict(self, key_lo: int) -> None:
        """Drop the items whose key is below ``key_lo``."""
        items = self._items
        while items and items[0][0] < key_lo:
            _, x, y = items.popleft()
            dx, dy = x - self._rx, y - self._ry
            self.n -= 1
            self._sx -= dx
            self._sy -= dy
            self._sxx -= dx * dx
            self._syy -= dy * dy
            self._sxy -= dx * dy
            self._removed += 1
        if self._removed > 2 * len(items) + 32:
            self._resum()

    def _resum(self) -> None:
        items = self._items
        self._removed = 0
        self.n = len(items)
        if not items:
            self._sx = self._sy = self._sxx = self._syy = self._sxy = 0.0
            return
        self._rx, self._ry = items[0][1], items[0][2]
        dx = [x - self._rx for _, x, _ in items]
        dy = [y - self._ry for _, _, y in items]
        self._sx, self._sy = math.fsum(dx), math.fsum(dy)
        self._sxx = math.fsum(a * a for a in dx)
        self._syy = math.fsum(b * b for b in dy)
        self._sxy = math.fsum(a * b for a, b in zip(dx, dy, strict=True))

    def mean_y(self) -> float:
        """Mean of ``y``; NaN when empty."""
        return self._ry + self._sy / self.n if self.n else math.nan

    def sum_y(self) -> float:
        """Sum of ``y`` (0 when empty)."""
        return self._sy + self.n * self._ry

    def std_y(self) -> float:
        """Population standard deviation of ``y``; NaN when empty."""
        if not self.n:
            return math.nan
        m = self._sy / self.n
        return math.sqrt(max(self._syy / self.n - m * m, 0.0))

    def slope(self) -> float:
        """Least-squares slope of ``y`` on ``x``; NaN with fewer than two distinct ``x``."""
        if self.n < 2:
            return math.nan
        mx, my = self._sx / self.n, self._sy / self.n
        var = self._sxx / self.n - mx * mx
        if var <= 0:
            return math.nan
        return (self._sxy / self.n - mx * my) / var

    def __len__(self) -> int:
        return self.n


class SlidingMedian:
    """The median of the values in a window (a sorted list beside the items in key order)."""

    __slots__ = ("_items", "_sorted")

    def __init__(self) -> None:
        self._items: deque[tuple[int, float]] = deque()
        self._sorted: list[float] = []

    def push(self, key: int, value: float) -> None:
        """Add ``value`` whose evidence starts at ``key``."""
        self._items.append((key, value))
        bisect.insort(self._sorted, value)

    def evict(self, key_lo: int) -> None:
        """Drop the values whose key is below ``key_lo``."""
        items, s = self._items, self._sorted
        while items and items[0][0] < key_lo:
            v = items.popleft()[1]
            del s[bisect.bisect_left(s, v)]

    def median(self) -> float:
        """Median (the mean of the two middle values for an even count); NaN when empty."""
        s, n = self._sorted, len(self._sorted)
        if not n:
            return math.nan
        h = n // 2
        return s[h] if n % 2 else (s[h - 1] + s[h]) / 2

    def __len__(self) -> int:
        return len(self._sorted)


class SlidingRange:
    """Largest minus smallest value in a window (two monotonic deques)."""

    __slots__ = ("_max", "_min")

    def __init__(self) -> None:
        self._max: deque[tuple[int, float]] = deque()
        self._min: deque[tuple[int, float]] = deque()

    def push(self, key: int, value: float) -> None:
        """Add ``value`` whose evidence starts at ``key``."""
        hi, lo = self._max, self._min
        while hi and hi[-1][1] <= value:
            hi.pop()
        hi.append((key, value))
        while lo and lo[-1][1] >= value:
            lo.pop()
        lo.append((key, value))

    def evict(self, key_lo: int) -> None:
        """Drop the values whose key is below ``key_lo``."""
        for q in (self._max, self._min):
            while q and q[0][0] < key_lo:
                q.popleft()

    def push_many(self, keys: list[int], values: np.ndarray) -> None:
        """Add ``values[i]`` whose evidence starts at ``keys[i]`` (increasing): only the values
        no later one reaches can ever be a window's extreme, so only they enter the deques."""
        if not keys:
            return
        for q, sign in ((self._max, 1.0), (self._min, -1.0)):
            v = sign * values
            top = float(v.max())
            while q and sign * q[-1][1] <= top:
                q.pop()
            later = np.maximum.accumulate(v[::-1])[::-1]  # the largest from i on
            keep = [*np.flatnonzero(v[:-1] > later[1:]).tolist(), v.size - 1]
            # the last of equal maxima stays (as one by one: a later equal value pops it)
            q.extend((keys[i], float(values[i])) for i in keep)

    def range(self) -> float:
        """Largest minus smallest value; NaN when empty."""
        return self._max[0][1] - self._min[0][1] if self._max else math.nan


class SlidingRuns:
    """How many grid frames of a window are marked (runs of marked frames, oldest first)."""

    __slots__ = ("_runs", "total")

    def __init__(self) -> None:
        self._runs: deque[list[int]] = deque()  # [start, end) of marked frames
        self.total = 0  #: marked frames held

    def push_run(self, start: int, end: int) -> None:
        """Mark frames ``[start, end)`` (after every frame marked before)."""
        if end <= start:
            return
        runs = self._runs
        if runs and runs[-1][1] == start:
            runs[-1][1] = end
        else:
            runs.append([start, end])
        self.total += end - start

    def evict(self, key_lo: int) -> None:
        """Forget the marked frames before ``key_lo``."""
        runs = self._runs
        while runs and runs[0][0] < key_lo:
            r = runs[0]
            if r[1] <= key_lo:
                self.total -= r[1] - r[0]
                runs.popleft()
            else:
                self.total -= key_lo - r[0]
                r[0] = key_lo
