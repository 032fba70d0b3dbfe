"""Window features kept up to date as frames arrive: a hop costs O(hop), not O(window).

:class:`SlidingFeatures` takes a session's frames in order, in any chunks, and gives at any
frame the features :func:`affectstream.dsp.features.window_features` computes from scratch for
the window of frames that ends there. Each item a feature is a statistic of is found once, when
the last frame of its span arrives, and kept in a bounded ring with the grid index where its
span starts; reading the window drops the items whose span starts before it:

- beats: the beat source is read in blocks of 5 s on the absolute grid
  (:func:`affectstream.dsp.heart_rate.block_beats`, as the derived heart-rate channel reads
  them); each beat enters with its block's position and amplitude; the intervals of consecutive
  beats, their successive differences and the amplitudes feed sliding medians and sums;
- level samples (EDA, TEMP at 4 Hz on the absolute grid): running sums for mean, spread and
  slope, monotonic deques for the range; a skin-conductance response enters when the samples
  after its peak arrive, a phasic value when the tonic span around it is complete, a rise with
  the sample that ends it;
- missing frames of the beat source: runs, so a window with any knows it.

Training, offline prediction and the live monitor read their features here (through
:class:`affectstream.model.session.PersonSession` and
:func:`affectstream.model.windows.make_windows`), so the three agree by construction; a test
holds this path to the from-scratch definition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from affectstream.dsp.beats import MAX_IBI_S, MIN_IBI_S
from affectstream.dsp.features import (
    MODALITY_FEATURES,
    SCR_MIN_AMPLITUDE_US,
    FeatureLayout,
    feature_names,
    window_features,
)
from affectstream.dsp.heart_rate import block_beats
from affectstream.dsp.sliding_stats import SlidingMedian, SlidingRange, SlidingRuns, SlidingSums

_NAN = float("nan")

#: Level samples in one push from which their items are found with array operations (training
#: and replay push many at once; a live hop brings a few, found one by one).
BULK_LEVEL_SAMPLES = 16


class _Cardiac:
    """Beats read block by block; intervals, successive differences and amplitudes in window."""

    def __init__(self, lay: FeatureLayout, rate: float) -> None:
        self.lay = lay
        self.rate = rate
        self.span = lay.context + lay.block + lay.margin
        self.store = np.empty(4 * self.span + 64)  # source frames; live: [head, head + n)
        self.head = 0
        self.n = 0
        self.buf_k = 0  # grid index of store[head]
        self.next_block: int | None = None
        self.missing = SlidingRuns()  # non-finite source frames
        self.ibi = SlidingMedian()  # plausible intervals (s), keyed by their first beat
        self.ibi_sums = SlidingSums()
        self.sq_diff = SlidingSums()  # squared successive differences of plausible intervals
        self.amps = SlidingMedian()
        self.last_beat: tuple[int, float] | None = None  # (key, position)
        self.last_ibi: tuple[int, float] | None = None

    def push(self, k0: int, v: np.ndarray) -> None:
        lay = self.lay
        if self.next_block is None:
            self.next_block = -(-(k0 + lay.context) // lay.block) * lay.block
            self.buf_k = k0
        fin = np.isfinite(v)
        if not fin.all():
            edges = np.flatnonzero(np.diff(np.concatenate(([1], fin.view(np.int8), [1]))))
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                self.missing.push_run(k0 + int(a), k0 + int(b))
        self._append(v)
        end = k0 + v.size
        while self.next_block + lay.block + lay.margin <= end:
            self._read(self.next_block)
            self.next_block += lay.block
        # frames before the next block's context are not needed again
        cut = min(self.next_block - lay.context - self.buf_k, self.n)
        if cut > 0:
            self.head += cut
            self.n -= cut
            self.buf_k += cut

    def _append(self, v: np.ndarray) -> None:
        """Append frames to the source buffer (preallocated; compacted, or grown for a large
        chunk, only when full)."""
        m = v.size
        if self.head + self.n + m > self.store.size:
            live = self.store[self.head : self.head + self.n]
            if self.n + m > self.store.size:
                grown = np.empty(max(2 * self.store.size, self.n + m))
                grown[: self.n] = live
                self.store = grown
            else:
                self.store[: self.n] = live  # the live part moves to the front (memmove)
            self.head = 0
        self.store[self.head + self.n : self.head + self.n + m] = v
        self.n += m

    def _read(self, b: int) -> None:
        lay = self.lay
        a = b - lay.context
        o = self.head - self.buf_k
        seg = self.store[a + o : b + lay.block + lay.margin + o]
        pos, amp = block_beats(seg, a, b, lay.block, self.rate, lay.source)
        for p, m in zip(pos.tolist(), amp.tolist(), strict=True):
            self.amps.push(a, m)
            if self.last_beat is not None:
                key = self.last_beat[0]
                ibi = (p - self.last_beat[1]) / self.rate
                if MIN_IBI_S <= ibi <= MAX_IBI_S:
                    self.ibi.push(key, ibi)
                    self.ibi_sums.push(key, 0.0, ibi)
                    if self.last_ibi is not None:
                        d = ibi - self.last_ibi[1]
                        self.sq_diff.push(self.last_ibi[0], 0.0, d * d)
                    self.last_ibi = (key, ibi)
            self.last_beat = (a, p)

    def features(self, start: int) -> list[float]:
        self.missing.evict(start)
        if self.missing.total or self.lay.cardiac is None:
            return [_NAN] * 4
        for s in (self.ibi, self.ibi_sums, self.sq_diff, self.amps):
            s.evict(start)
        n = len(self.ibi)
        hr = 60.0 / self.ibi.median() if n >= 2 else _NAN
        rmssd = math.sqrt(self.sq_diff.mean_y()) if n >= 3 else _NAN
        sdnn = self.ibi_sums.std_y() if n >= 2 else _NAN
        amp = math.log(self.amps.median() + 1e-9) if len(self.amps) else _NAN
        return [hr, rmssd, sdnn, amp]


class _Levels:
    """EDA and TEMP level samples on the absolute 4 Hz grid, and the EDA items found in them."""

    def __init__(self, lay: FeatureLayout) -> None:
        self.lay = lay
        self.eda = SlidingSums()  # (u, e) of finite samples
        self.eda_range = SlidingRange()
        self.rise = SlidingSums()  # positive rates of rise, keyed by the pair's first sample
        self.scr = SlidingSums()  # response amplitudes, keyed by their rise's first sample
        self.phasic = SlidingSums()  # phasic values, keyed by their tonic span's first sample
        self.temp = SlidingSums()
        self.lv: list[float] = []  # recent EDA level samples, NaN kept
        self.lv_u = 0  # level index of lv[0]
        self.first_u: int | None = None
        self.last_nan = 0  # level index of the last missing EDA sample (or before the first)
        self.keep = max(2 * lay.tonic_half + 1, lay.scr_rise + lay.scr_half + 1)

    def push(self, u0: int, eda: list[float] | None, temp: list[float] | None) -> None:
        if self.first_u is None:
            self.first_u = self.lv_u = u0
            self.last_nan = u0 - 1
        if temp is not None and len(temp) >= BULK_LEVEL_SAMPLES:
            tv = np.asarray(temp, dtype=np.float64)
            ok = np.flatnonzero(np.isfinite(tv))
            self.temp.push_many((u0 + ok).tolist(), (u0 + ok).astype(np.float64), tv[ok])
        elif temp is not None:
            for i, t in enumerate(temp):
                if math.isfinite(t):
                    self.temp.push(u0 + i, u0 + i, t)
        if eda is None:
            return
        if len(eda) >= BULK_LEVEL_SAMPLES:
            self._push_bulk(u0, np.asarray(eda, dtype=np.float64))
        else:
            self._push_each(u0, eda)
        if len(self.lv) > 4 * self.keep:
            cut = len(self.lv) - self.keep
            del self.lv[:cut]
            self.lv_u += cut

    def _push_bulk(self, u0: int, new: np.ndarray) -> None:
        """:meth:`_push_each` for many samples at once (a training or replay chunk): the same
        items, found with array operations."""
        lay = self.lay
        L, P, H = lay.scr_rise, lay.scr_half, lay.tonic_half
        tail = self.lv[-self.keep :]
        ext = np.concatenate([np.asarray(tail, dtype=np.float64), new])
        e0 = u0 - len(tail)  # level index of ext[0]
        m = new.size
        us = np.arange(u0, u0 + m)
        fin = np.isfinite(new)
        keys = us[fin].tolist()
        ef = new[fin]
        self.eda.push_many(keys, us[fin].astype(np.float64), ef)
        self.eda_range.push_many(keys, ef)
        # rises: pairs (u - 1, u) both finite and both in this session
        prev = ext[len(tail) - 1 : len(tail) - 1 + m] if tail else np.r_[np.nan, new[:-1]]
        with np.errstate(invalid="ignore"):
            d = (new - prev) * lay.level_rate
            up = d > 0
        up &= us - 1 >= self.first_u  # type: ignore[operator]
        self.rise.push_many((us[up] - 1).tolist(), np.zeros(int(up.sum())), d[up])
        # responses peaking at u - P, span [u - P - L, u] for the new u
        r0 = max(0, len(tail) - L - P)
        if ext.size - r0 >= L + P + 1:
            w = sliding_window_view(ext[r0:], L + P + 1)
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(w).all(axis=1)
                c = w[:, L]
                peak = (c > w[:, L - P : L].max(axis=1)) & (c >= w[:, L + 1 :].max(axis=1))
                amp = c - w[:, : L + 1].min(axis=1)
                hit = ok & peak & (amp >= SCR_MIN_AMPLITUDE_US)
            rows = np.flatnonzero(hit)
            self.scr.push_many((e0 + r0 + rows).tolist(), np.zeros(rows.size), amp[rows])
        # phasic values at u - H, tonic span [u - 2H, u]
        r0 = max(0, len(tail) - 2 * H)
        if ext.size - r0 >= 2 * H + 1:
            w = sliding_window_view(ext[r0:], 2 * H + 1)
            ok = np.flatnonzero(np.isfinite(w).all(axis=1))
            if ok.size:
                ph = w[ok, H] - w[ok].mean(axis=1)
                self.phasic.push_many((e0 + r0 + ok).tolist(), np.zeros(ok.size), ph)
        if not fin.all():
            self.last_nan = int(us[~fin][-1])
        self.lv.extend(new.tolist())

    def _push_each(self, u0: int, eda: list[float]) -> None:
        lay = self.lay
        L, P, H = lay.scr_rise, lay.scr_half, lay.tonic_half
        rate = lay.level_rate
        lv = self.lv
        isfinite = math.isfinite
        for i, e in enumerate(eda):
            u = u0 + i
            lv.append(e)
            if not isfinite(e):
                self.last_nan = u
                continue
            self.eda.push(u, u, e)
            self.eda_range.push(u, e)
            last_nan = self.last_nan
            base = self.lv_u
            if last_nan < u - 1:  # the sample before is finite (and in this session)
                d = (e - lv[u - 1 - base]) * rate
                if d > 0:
                    self.rise.push(u - 1, 0.0, d)
            a = u - P - L  # a response peaking at u - P: its span [a, u]
            if last_nan < a:
                j = u - P - base
                c = lv[j]
                if c > lv[j - 1] and c > max(lv[j - P : j]) and c >= max(lv[j + 1 : j + P + 1]):
                    amp = c - min(lv[a - base : j + 1])
                    if amp >= SCR_MIN_AMPLITUDE_US:
                        self.scr.push(a, 0.0, amp)
            a = u - 2 * H  # the phasic value at u - H: its tonic span [a, u]
            if last_nan < a:
                seg = lv[a - base : u + 1 - base]
                self.phasic.push(a, 0.0, lv[u - H - base] - math.fsum(seg) / len(seg))

    def eda_features(self, u_start: int) -> list[float]:
        for s in (self.eda, self.eda_range, self.rise, self.scr, self.phasic):
            s.evict(u_start)
        if not len(self.eda):
            return [_NAN] * len(MODALITY_FEATURES["eda"])
        rate = self.lay.level_rate
        return [
            self.eda.mean_y(),
            self.eda.std_y(),
            self.eda.slope() * rate,
            self.eda_range.range(),
            float(len(self.scr)),
            self.scr.sum_y() if len(self.scr) else 0.0,
            self.phasic.std_y(),
            self.rise.mean_y() if len(self.rise) else 0.0,
        ]

    def temp_features(self, u_start: int) -> list[float]:
        self.temp.evict(u_start)
        return [self.temp.mean_y(), self.temp.slope() * self.lay.level_rate]


class SlidingFeatures:
    """The window features of a sliding window over one session's frames.

    Parameters
    ----------
    channel_names
        Frame column names (``bvp``, ``eda``, ``temp``, ``ecg:MLII``, ...).
    rate
        Frame rate in Hz.
    window
        Window length in frames (e.g. 1,920 for 60 s at 32 Hz).

    Notes
    -----
    Features that the sliding path does not know (a feature group added to
    :func:`~affectstream.dsp.features.window_features` without a sliding form) are computed from
    scratch over the window frames passed to :meth:`features`.
    """

    def __init__(self, channel_names: Sequence[str], rate: float, window: int) -> None:
        self.channel_names = list(channel_names)
        self.rate = float(rate)
        self.window = int(window)
        self.names = feature_names(self.channel_names)
        self.layout = lay = FeatureLayout.of(self.channel_names, self.rate, self.window)
        known: list[str] = []
        if lay.has_cardiac:
            known += MODALITY_FEATURES["cardiac"]
        if lay.eda is not None:
            known += MODALITY_FEATURES["eda"]
        if lay.temp is not None:
            known += MODALITY_FEATURES["temp"]
        self._known = [self.names.index(n) for n in known]
        #: feature indices computed from scratch over the window (no sliding form)
        self.from_scratch = [i for i in range(len(self.names)) if i not in self._known]
        self._cardiac = _Cardiac(lay, self.rate) if lay.cardiac is not None else None
        self._levels = _Levels(lay) if lay.eda is not None or lay.temp is not None else None
        self.k_next: int | None = None  #: grid index of the next frame expected

    def push(self, k0: int, x: np.ndarray) -> None:
        """Take frames ``k0, k0 + 1, ...`` of shape ``(m, n_channels)`` (NaN allowed), following
        on from the previous call's."""
        m = x.shape[0]
        if m == 0:
            return
        if self.k_next is not None and k0 != self.k_next:
            raise ValueError(
                f"feature frames must be consecutive: got frame {k0} after {self.k_next - 1}"
            )
        self.k_next = k0 + m
        lay = self.layout
        if self._cardiac is not None:
            self._cardiac.push(k0, np.asarray(x[:, lay.cardiac], dtype=np.float64))
        if self._levels is not None:
            first = (-k0) % lay.step
            if first < m:
                rows = x[first :: lay.step]
                self._levels.push(
                    (k0 + first) // lay.step,
                    None if lay.eda is None else rows[:, lay.eda].tolist(),
                    None if lay.temp is None else rows[:, lay.temp].tolist(),
                )

    def features(self, frames: np.ndarray | None = None) -> np.ndarray:
        """Features of the window of :attr:`window` frames ending with the last frame pushed,
        shape ``(len(names),)``, NaN where unknown; equal to
        ``window_features(frames, channel_names, rate, k0=end - window)``. ``frames`` (that
        window, ``(window, n_channels)``) is needed only when :attr:`from_scratch` is not
        empty."""
        if self.k_next is None:
            raise ValueError("no frames yet: push frames before reading features")
        lay = self.layout
        start = self.k_next - self.window
        vals: list[float] = []
        if lay.has_cardiac:
            vals += [_NAN] * 4 if self._cardiac is None else self._cardiac.features(start)
        u_start = -(-start // lay.step)
        if lay.eda is not None:
            vals += self._levels.eda_features(u_start)  # type: ignore[union-attr]
        if lay.temp is not None:
            vals += self._levels.temp_features(u_start)  # type: ignore[union-attr]
        if not self.from_scratch:  # every feature slides (then _known is 0, 1, 2, ...)
            return np.array(vals)
        out = np.full(len(self.names), np.nan)
        out[self._known] = vals
        if self.from_scratch:
            if frames is None:
                raise ValueError(
                    f"features {[self.names[i] for i in self.from_scratch]} have no sliding "
                    "form: pass the window's frames"
                )
            full = window_features(frames, self.channel_names, self.rate, k0=start)
            out[self.from_scratch] = full[self.from_scratch]
        return out
