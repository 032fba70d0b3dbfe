"""A heart-rate channel derived, causally and chunk by chunk, from the filtered pulse wave or a
single ECG lead.

The Preprocessor adds it to the frames (config ``"derived": [{"name": "heart_rate", "source":
"bvp"}]``) so that a model on frames sees the heart rate as a slow channel beside EDA and TEMP,
instead of having to find beats in the raw pulse wave itself (which a small CNN trained on a
few thousand windows does poorly).

Beats are found by :func:`affectstream.dsp.beats.systolic_peaks` (pulse wave) or
:func:`affectstream.dsp.beats.detect_r_peaks` (ECG, Pan-Tompkins) in blocks of
:data:`BLOCK_S` seconds on the absolute model grid, each read with :data:`CONTEXT_S` seconds of
frames before it and :data:`MARGIN_S` after it; a block's beats are known once the frame
``MARGIN_S`` after its end has arrived. The channel at frame ``k`` is 60 / the median of the
last :data:`N_INTERVALS` plausible beat intervals known at ``k`` (beats per minute), held until
the next block is read; NaN until the first beats. Because blocks sit on the absolute grid, the
channel does not depend on how the stream was chunked, and it lags the pulse by at most
``BLOCK_S + MARGIN_S`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from affectstream.dsp.beats import (
    MIN_IBI_S,
    detect_r_peaks,
    median_rate_bpm,
    refine_peaks,
    systolic_peaks,
)

#: Modalities a heart-rate channel can be derived from.
HEART_RATE_SOURCES = ("bvp", "ecg")

#: Seconds of frames whose beats are read at once (the detector costs about as much for 10 s as
#: for 7 s of frames, so longer blocks cost less per second; the channel lags by up to 6 s).
BLOCK_S = 5.0
#: Seconds of frames before a block read with it (the detector's moving averages settle).
CONTEXT_S = 4.0
#: Seconds of frames after a block read with it (a beat at the block's end is complete).
MARGIN_S = 1.0
#: Beat intervals whose median gives the rate.
N_INTERVALS = 5


def block_beats(
    seg: np.ndarray, lo: int, b: int, block: int, rate: float, source: str = "bvp"
) -> tuple[np.ndarray, np.ndarray]:
    """The beats of one block: those in grid frames ``[b, b + block)`` found in ``seg``.

    Parameters
    ----------
    seg
        Frames of the source (band-passed pulse wave or one ECG lead), shape ``(n,)``, starting
        at grid index ``lo`` and holding the block with its context and margin; NaN allowed.
    lo, b, block
        Grid index of ``seg[0]``, of the block's first frame, and the block length (frames).
    rate
        Frame rate in Hz.
    source
        ``"bvp"`` or ``"ecg"``.

    Returns
    -------
    positions, amplitudes
        Beat positions as fractional grid indices (pulse peaks refined by a parabola), shape
        ``(n_beats,)``, and each beat's amplitude in the source's unit: a pulse peak above the
        lowest frame since the peak before it in ``seg`` (or since ``seg[0]``), an R peak's
        absolute value. Empty when fewer than half the frames of ``seg`` are finite (missing
        frames are read as 0).
    """
    finite = np.isfinite(seg)
    if seg.size == 0 or finite.mean() < 0.5:
        return np.empty(0), np.empty(0)
    seg = np.where(finite, seg, 0.0)
    if source == "ecg":
        peaks = detect_r_peaks(seg, rate)
        inside = (peaks + lo >= b) & (peaks + lo < b + block)
        return (peaks[inside] + lo).astype(np.float64), np.abs(seg[peaks[inside]])
    peaks = systolic_peaks(seg, rate)
    inside = (peaks + lo >= b) & (peaks + lo < b + block)
    if not inside.any():
        return np.empty(0), np.empty(0)
    troughs = np.minimum.reduceat(seg, np.concatenate(([0], peaks)))[:-1]
    amps = seg[peaks[inside]] - troughs[inside]
    return refine_peaks(seg, peaks[inside]) + lo, amps


class StreamingHeartRate:
    """Heart rate (beats/min) per frame from consecutive frames of a band-passed pulse wave.

    Parameters
    ----------
    rate
        Frame rate in Hz (the model grid; an ECG source needs at least 100 Hz).
    source
        The modality of the frames: ``"bvp"`` (pulse wave) or ``"ecg"`` (one lead).
    """

    def __init__(self, rate: float, source: str = "bvp") -> None:
        if source not in HEART_RATE_SOURCES:
            raise ValueError(
                f"heart rate from {source!r}: derive it from one of {', '.join(HEART_RATE_SOURCES)}"
            )
        if source == "ecg" and rate < 100:
            raise ValueError(
                f"heart rate from ECG frames at {rate:g} Hz: R-peak detection needs a model rate "
                "of at least 100 Hz"
            )
        self.source = source
        self.rate = float(rate)
        self.block = max(1, int(round(BLOCK_S * rate)))
        self.context = int(round(CONTEXT_S * rate))
        self.margin = int(round(MARGIN_S * rate))
        self._buf = np.empty(0)
        self._buf_k = 0  # grid index of _buf[0]
        self._next_block: int | None = None  # grid index where the next unread block starts
        self._beats: list[float] = []  # recent beat positions, grid index (fractional)
        self._value = float("nan")

    def state_dict(self) -> dict[str, Any]:
        """The carried state: the frames the next block still needs (at most
        ``CONTEXT_S + BLOCK_S + MARGIN_S`` seconds), the recent beats and the current rate."""
        return {
            "buf": self._buf.copy(),
            "buf_k": self._buf_k,
            "next_block": self._next_block,
            "beats": list(self._beats),
            "value": self._value,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a detector with the same source and rate."""
        self._buf = np.asarray(state["buf"], dtype=np.float64).reshape(-1)
        self._buf_k = int(state["buf_k"])
        self._next_block = None if state["next_block"] is None else int(state["next_block"])
        self._beats = [float(b) for b in state["beats"]]
        self._value = float(state["value"])

    def process(self, k0: int, values: np.ndarray) -> np.ndarray:
        """Take the frames ``k0, k0 + 1, ...`` of the pulse wave, shape ``(m,)`` (NaN allowed),
        and return the heart rate at each, shape ``(m,)``, beats/min, NaN before the first beats.
        Frames must follow on from the previous call's."""
        v = np.asarray(values, dtype=np.float64)
        m = v.size
        out = np.empty(m)
        if m == 0:
            return out
        if self._next_block is None:
            self._next_block = -(-k0 // self.block) * self.block  # first block boundary >= k0
            self._buf_k = k0
        elif k0 != self._buf_k + self._buf.size:
            raise ValueError(
                f"heart-rate frames must be consecutive: got frame {k0} after "
                f"{self._buf_k + self._buf.size - 1}"
            )
        self._buf = np.concatenate([self._buf, v])
        written = 0  # frames of this call whose value is set
        while True:
            b = self._next_block
            known_at = b + self.block + self.margin - 1  # last frame this block's reading needs
            if known_at >= k0 + m:
                break
            self._read_block(b)
            upto = known_at - k0  # frames before this one keep the previous value
            if upto > written:
                out[written:upto] = self._value
                written = upto
            self._value = self._rate_now()
            self._next_block = b + self.block
        out[written:] = self._value
        keep_from = self._next_block - self.context  # what the next block needs
        cut = max(0, min(keep_from - self._buf_k, self._buf.size))
        if cut:
            self._buf = self._buf[cut:]
            self._buf_k += cut
        return out

    def _read_block(self, b: int) -> None:
        lo = max(b - self.context, self._buf_k)
        hi = b + self.block + self.margin
        seg = self._buf[lo - self._buf_k : hi - self._buf_k]
        pos, _ = block_beats(seg, lo, b, self.block, self.rate, self.source)
        min_gap = MIN_IBI_S * self.rate
        for p in pos:
            if not self._beats or p - self._beats[-1] >= min_gap:
                self._beats.append(float(p))
        del self._beats[: -(N_INTERVALS + 1)]

    def _rate_now(self) -> float:
        if len(self._beats) < 2:
            return self._value
        rate = median_rate_bpm(np.diff(self._beats) / self.rate, min_intervals=1)
        return self._value if np.isnan(rate) else rate
