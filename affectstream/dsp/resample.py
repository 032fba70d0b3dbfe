"""Streaming resampling by timestamps onto a fixed model grid.

The grid is absolute: point ``k`` lies at ``k / rate`` seconds, so every stream, device and
recording shares it. Values are linearly interpolated between the two input samples that bracket
a grid point; the input must already be band-limited below the grid's Nyquist frequency (the
filter presets are). A grid point whose bracketing samples are further apart than ``max_gap_s``
or are marked invalid gets NaN: missing data stays visible instead of being invented.
"""

from __future__ import annotations

import math

import numpy as np


class GridResampler:
    """Turns timestamped chunks of one stream into values on the grid ``k / rate``.

    Parameters
    ----------
    rate
        Grid rate in Hz.
    n_channels
        Columns per chunk.
    max_gap_s
        Largest spacing of two input samples (seconds) that may be interpolated across.
    """

    def __init__(self, rate: float, n_channels: int, max_gap_s: float) -> None:
        self.rate = float(rate)
        self.n_channels = int(n_channels)
        self.max_gap_s = float(max_gap_s)
        self.k_next: int | None = None  #: next grid index to emit
        self._t_prev = 0.0
        self._x_prev = np.zeros(n_channels)
        self._ok_prev = True
        self.first_k: int | None = None  #: grid index of the first point this stream gives
        self.last_time: float | None = None  #: time of the latest sample seen, seconds

    def process(
        self, t: np.ndarray, x: np.ndarray, ok: np.ndarray
    ) -> tuple[int, np.ndarray]:
        """Resample one chunk.

        Parameters
        ----------
        t
            Sample times in seconds, shape ``(n,)``, increasing and after the previous chunk's.
        x
            Samples, shape ``(n, n_channels)``.
        ok
            Validity of each sample, shape ``(n,)`` bool.

        Returns
        -------
        k0, values
            Grid index of the first value and the values, shape ``(m, n_channels)``, for the
            grid points strictly before the chunk's last sample time (they need no later data).
        """
        if t.size == 0:
            return (self.k_next or 0), np.empty((0, self.n_channels))
        if self.k_next is None:
            tt, xx, oo = t, x, ok
            self.k_next = math.ceil(float(t[0]) * self.rate)
            self.first_k = self.k_next
        else:
            tt = np.concatenate(([self._t_prev], t))
            xx = np.concatenate((self._x_prev[None, :], x))
            oo = np.concatenate(([self._ok_prev], ok))
        k0 = self.k_next
        k_end = math.ceil(float(tt[-1]) * self.rate)  # exclusive: grid points < last time
        self._t_prev, self._x_prev, self._ok_prev = float(tt[-1]), xx[-1].copy(), bool(oo[-1])
        self.last_time = self._t_prev
        if k_end <= k0:
            return k0, np.empty((0, self.n_channels))
        g = np.arange(k0, k_end) / self.rate
        j = np.searchsorted(tt, g, side="right") - 1
        np.clip(j, 0, tt.size - 2, out=j)
        t_lo, t_hi = tt[j], tt[j + 1]
        span = t_hi - t_lo
        frac = (g - t_lo) / span
        vals = xx[j] + frac[:, None] * (xx[j + 1] - xx[j])
        bad = (span > self.max_gap_s) | ~oo[j] | ~oo[j + 1] | (g < t_lo)
        if bad.any():
            vals[bad] = np.nan
        self.k_next = k_end
        return k0, vals
