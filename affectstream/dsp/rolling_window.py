"""A preallocated rolling window of model-rate frames."""

from __future__ import annotations

import numpy as np


class RollingWindow:
    """The last ``capacity`` frames of a device, in a ring buffer that never reallocates.

    Parameters
    ----------
    capacity
        Frames held (the model window, e.g. 1,920 for 60 s at 32 Hz).
    n_channels
        Columns per frame.
    """

    def __init__(self, capacity: int, n_channels: int) -> None:
        self.capacity = int(capacity)
        self._buf = np.full((self.capacity, n_channels), np.nan)
        self._pos = 0  # next write position
        self.total = 0  #: frames appended since the start

    def append(self, x: np.ndarray) -> None:
        """Append frames of shape ``(m, n_channels)``."""
        m = x.shape[0]
        if m >= self.capacity:
            self._buf[:] = x[-self.capacity :]
            self._pos = 0
        else:
            first = min(m, self.capacity - self._pos)
            self._buf[self._pos : self._pos + first] = x[:first]
            if first < m:
                self._buf[: m - first] = x[first:]
            self._pos = (self._pos + m) % self.capacity
        self.total += m

    def resume(self, total: int) -> None:
        """Continue a window whose content is lost (a restart): the count goes on from
        ``total`` frames and every held frame is missing (NaN) until new frames replace it."""
        self._buf[:] = np.nan
        self._pos = int(total) % self.capacity
        self.total = int(total)

    def window(self, out: np.ndarray | None = None) -> np.ndarray:
        """The held frames oldest first, shape ``(capacity, n_channels)``; into ``out`` if given."""
        if out is None:
            out = np.empty_like(self._buf)
        tail = self.capacity - self._pos
        out[:tail] = self._buf[self._pos :]
        out[tail:] = self._buf[: self._pos]
        return out
