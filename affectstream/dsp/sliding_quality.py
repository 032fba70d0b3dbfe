"""Window quality kept up to date as frames arrive: a hop costs O(hop), not O(window).

:class:`SlidingQuality` gives at any frame what :func:`affectstream.dsp.quality.window_quality`
computes from scratch for the window ending there: missing frames, flat frames of the cardiac
channels and out-of-range frames are marked once as they arrive and kept as runs of grid
indices (:class:`~affectstream.dsp.sliding_stats.SlidingRuns`); a flat frame is kept under the
index where its flat span starts, so it counts only in windows that hold that span.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from affectstream.dsp.quality import (
    DERIVED_COLUMNS,
    FLAT_MIN_S,
    FLAT_TOLERANCE,
    PLAUSIBLE_RANGE,
    judge_quality,
)
from affectstream.dsp.sliding_stats import SlidingRuns


def _push_mask(runs: SlidingRuns, k0: int, mask: np.ndarray) -> None:
    """Mark the frames ``k0 + i`` where ``mask[i]``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        runs.push_run(k0 + a, k0 + b)


class SlidingQuality:
    """The quality of a sliding window over one session's frames.

    Parameters
    ----------
    channel_names
        Frame column names.
    rate
        Frame rate in Hz.
    window
        Window length in frames.
    max_missing
        As for :func:`~affectstream.dsp.quality.window_quality`.
    """

    def __init__(
        self, channel_names: Sequence[str], rate: float, window: int, max_missing: float = 0.1
    ) -> None:
        self.channel_names = list(channel_names)
        self.window = int(window)
        self.max_missing = float(max_missing)
        self.limit = max(1, int(round(FLAT_MIN_S * rate)))
        mods = [c.split(":")[0] for c in self.channel_names]
        self._recorded = [c for c, n in enumerate(self.channel_names) if n not in DERIVED_COLUMNS]
        self._missing = SlidingRuns()  # frames with a recorded channel missing
        ranged = [c for c, m in enumerate(mods) if m in PLAUSIBLE_RANGE]
        self._ranged = ranged
        self._lo = np.array([PLAUSIBLE_RANGE.get(m, (-np.inf, np.inf))[0] for m in mods])
        self._hi = np.array([PLAUSIBLE_RANGE.get(m, (-np.inf, np.inf))[1] for m in mods])
        self._nan = {c: SlidingRuns() for c in ranged}
        self._oor = {c: SlidingRuns() for c in ranged}
        self._flat_cols = [c for c, m in enumerate(mods) if m in FLAT_TOLERANCE]
        self._tol = {c: FLAT_TOLERANCE[mods[c]] for c in self._flat_cols}
        self._flat = {c: SlidingRuns() for c in self._flat_cols}  # keyed by span start
        self._last = {c: np.nan for c in self._flat_cols}
        self._run = dict.fromkeys(self._flat_cols, 0)  # still changes ending at the last frame
        self.k_next: int | None = None

    def push(self, k0: int, x: np.ndarray) -> None:
        """Take frames ``k0, k0 + 1, ...`` of shape ``(m, n_channels)``, following on."""
        m = x.shape[0]
        if m == 0:
            return
        if self.k_next is not None and k0 != self.k_next:
            raise ValueError(
                f"quality frames must be consecutive: got frame {k0} after {self.k_next - 1}"
            )
        self.k_next = k0 + m
        fin = np.isfinite(x)
        if not fin.all():
            _push_mask(self._missing, k0, ~fin[:, self._recorded].all(axis=1))
            for c in self._ranged:
                if not fin[:, c].all():
                    _push_mask(self._nan[c], k0, ~fin[:, c])
        if self._ranged:
            # every column against its range (+-inf where it has none); NaN compares False
            bad = (x < self._lo) | (x > self._hi)
            if bad.any():
                bad &= fin
                for c in self._ranged:
                    if bad[:, c].any():
                        _push_mask(self._oor[c], k0, bad[:, c])
        for c in self._flat_cols:
            self._push_flat(c, k0, x[:, c])

    def _push_flat(self, c: int, k0: int, col: np.ndarray) -> None:
        m = col.size
        d = np.empty(m)
        d[0] = col[0] - self._last[c]
        np.subtract(col[1:], col[:-1], out=d[1:])
        self._last[c] = col[-1]
        with np.errstate(invalid="ignore"):
            moved = ~(np.abs(d, out=d) <= self._tol[c])  # a change next to NaN is a move
        if moved.all():
            self._run[c] = 0
            return
        carry, limit = self._run[c], self.limit
        if m < limit:  # only the run carried in can reach the limit inside this chunk
            head = int(np.argmax(moved)) if moved.any() else m  # frames on the carried run
            a = max(0, limit - carry - 1)
            if a < head:
                self._flat[c].push_run(k0 + a - limit, k0 + head - limit)
            # the run at the end: the frames since the last move
            self._run[c] = carry + m if head == m else int(np.argmax(moved[::-1]))
            return
        idx = np.arange(m)
        last_move = np.maximum.accumulate(np.where(moved, idx, -1))
        run = np.where(last_move < 0, carry + idx + 1, idx - last_move)
        self._run[c] = int(run[-1])
        flat = run >= limit
        if flat.any():
            _push_mask(self._flat[c], k0 - limit, flat)  # under their span's start

    def quality(self) -> tuple[float, str | None]:
        """Quality and reason of the window of :attr:`window` frames ending with the last frame
        pushed, as :func:`~affectstream.dsp.quality.window_quality` gives them."""
        if self.k_next is None:
            raise ValueError("no frames yet: push frames before reading the quality")
        start = self.k_next - self.window
        n = self.window
        self._missing.evict(start)
        fractions = []
        for c in range(len(self.channel_names)):
            flat = oor = 0.0
            if c in self._flat:
                self._flat[c].evict(start)
                flat = self._flat[c].total / n
            if c in self._oor:
                self._nan[c].evict(start)
                self._oor[c].evict(start)
                n_fin = n - self._nan[c].total
                oor = self._oor[c].total / n_fin if n_fin else 0.0
            fractions.append((flat, oor))
        missing = self._missing.total / n if self._recorded else 1.0
        return judge_quality(missing, fractions, self.channel_names, self.max_missing)
