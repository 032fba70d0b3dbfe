"""Streaming resampling by timestamps onto a fixed model grid.

The grid is absolute: point ``k`` lies at ``k / rate`` seconds, so every stream, device and
recording shares it. Values are linearly interpolated between the two input samples that bracket
a grid point; the input must already be band-limited below the grid's Nyquist frequency (the
filter presets are). A grid point whose bracketing samples are further apart than ``max_gap_s``
or are marked invalid gets NaN: missing data stays visible instead of being invented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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
        self._x_prev = np.zeros((n_channels, 1))
        self._ok_prev = True
        self.first_k: int | None = None  #: grid index of the first point this stream gives
        self.last_time: float | None = None  #: time of the latest sample seen, seconds

    def state_dict(self) -> dict[str, Any]:
        """The carried state: the grid position and the last sample (time, values, validity)."""
        return {
            "k_next": self.k_next,
            "first_k": self.first_k,
            "t_prev": self._t_prev,
            "x_prev": self._x_prev.copy(),
            "ok_prev": self._ok_prev,
            "last_time": self.last_time,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a resampler with the same rate and channels."""
        x_prev = np.asarray(state["x_prev"], dtype=np.float64)
        if x_prev.shape != (self.n_channels, 1):
            raise ValueError(
                f"resampler state holds {x_prev.shape[0]} channels; this one has {self.n_channels}"
            )
        self.k_next = None if state["k_next"] is None else int(state["k_next"])
        self.first_k = None if state["first_k"] is None else int(state["first_k"])
        self._t_prev = float(state["t_prev"])
        self._x_prev = x_prev
        self._ok_prev = bool(state["ok_prev"])
        self.last_time = None if state["last_time"] is None else float(state["last_time"])

    def process(
        self, t: np.ndarray, rows: np.ndarray, ok: np.ndarray | None, regular: bool = False
    ) -> tuple[int, np.ndarray]:
        """Resample one chunk.

        Parameters
        ----------
        t
            Sample times in seconds, shape ``(n,)``, increasing and after the previous chunk's.
        rows
            Samples channel-major, shape ``(n_channels, n)``.
        ok
            Validity of each sample, shape ``(n,)`` bool, or None when all are valid.
        regular
            True when ``t`` is evenly spaced at no more than ``max_gap_s``: then only the step
            from the previous chunk is checked for a gap.

        Returns
        -------
        k0, values
            Grid index of the first value and the values, shape ``(m, n_channels)``, for the
            grid points strictly before the chunk's last sample time (they need no later data).
        """
        n = t.size
        if n == 0:
            return (self.k_next or 0), np.empty((0, self.n_channels))
        ok_all = ok is None
        if self.k_next is None:
            tt, xx = t, rows
            self.k_next = self.first_k = math.ceil(float(t[0]) * self.rate)
            oo = ok
        else:
            tt = np.concatenate(((self._t_prev,), t))
            xx = np.concatenate((self._x_prev, rows), axis=1)
            ok_all = ok_all and self._ok_prev
            oo = (
                None
                if ok_all
                else np.concatenate(
                    ((self._ok_prev,), np.ones(n, dtype=bool) if ok is None else ok)
                )
            )
        k0 = self.k_next
        t_last = float(tt[-1])
        k_end = math.ceil(t_last * self.rate)  # exclusive: only grid points before the last time
        self._t_prev, self._x_prev = t_last, xx[:, -1:]
        self._ok_prev = True if oo is None else bool(oo[-1])
        self.last_time = t_last
        if k_end <= k0:
            return k0, np.empty((0, self.n_channels))
        self.k_next = k_end
        g = np.arange(k0, k_end) / self.rate
        if self.n_channels == 1:
            vals = np.interp(g, tt, xx[0])[:, None]
        else:
            vals = np.stack([np.interp(g, tt, xx[c]) for c in range(self.n_channels)], axis=1)
        if ok_all:
            if tt.size < 2:
                return k0, vals
            if regular:
                if float(tt[1] - tt[0]) <= self.max_gap_s:
                    return k0, vals
            elif float((tt[1:] - tt[:-1]).max()) <= self.max_gap_s:
                return k0, vals
        if oo is None:
            oo = np.ones(tt.size, dtype=bool)
        j = np.clip(np.searchsorted(tt, g, side="right") - 1, 0, max(tt.size - 2, 0))
        j1 = np.minimum(j + 1, tt.size - 1)
        bad = ((tt[j1] - tt[j]) > self.max_gap_s) | ~oo[j] | ~oo[j1]
        vals[bad] = np.nan
        return k0, vals
