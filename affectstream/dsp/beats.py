"""Beat detection: R-peaks in ECG (Pan-Tompkins style) and systolic peaks in BVP/PPG (Elgendi).

Both run on the project's own causal filter presets, so beat times derived for features in
training match what the live path would see. Peak positions are corrected for the causal
filters' group delay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal
from scipy.ndimage import uniform_filter1d

from affectstream.dsp.filters import design_sos, filter_offline
from affectstream.dsp.presets import QRS_BAND, preset

#: Plausible beat intervals (seconds): 30 to 220 beats/min.
MIN_IBI_S = 60.0 / 220.0
MAX_IBI_S = 2.0


def group_delay_s(stages: list[dict[str, object]], fs: float, freq: float) -> float:
    """Group delay in seconds of the cascaded filter ``stages`` at ``freq`` Hz."""
    sos = design_sos(stages, fs)
    w = 2 * np.pi * freq / fs
    total = 0.0
    for sec in sos:
        _, gd = signal.group_delay((sec[:3], sec[3:]), w=[w])
        total += float(gd[0])
    return total / fs


def detect_r_peaks(ecg: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of R-peaks in one ECG lead.

    Parameters
    ----------
    ecg
        One lead, shape ``(n,)``, any unit.
    fs
        Sampling rate in Hz (at least 100 Hz).

    Returns
    -------
    Indices into ``ecg``, shape ``(n_beats,)``, increasing.

    Notes
    -----
    Pan & Tompkins (1985): ECG preset filter, 5-15 Hz QRS band, derivative, squaring, 150 ms
    moving-window integration, adaptive signal/noise thresholds with search-back after a missed
    beat, 200 ms refractory period; then the R-peak is the largest deflection of the preset-
    filtered ECG in the integration window, shifted back by the filters' group delay.
    """
    x = np.asarray(ecg, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"detect_r_peaks takes one lead of shape (n,); got {x.shape}")
    if fs < 100:
        raise ValueError(f"ECG at {fs:g} Hz is too slow for R-peak detection; it needs >= 100 Hz")
    if x.size < 2 * fs:
        return np.empty(0, dtype=np.int64)
    ecg_f = filter_offline(x, preset("ecg"), fs)
    qrs = filter_offline(ecg_f, [QRS_BAND], fs)
    deriv = np.gradient(qrs)
    win = max(1, int(round(0.15 * fs)))
    mwi = np.convolve(deriv**2, np.ones(win) / win, mode="full")[: x.size]
    cands, _ = signal.find_peaks(mwi, distance=max(1, int(0.2 * fs)))
    if cands.size == 0:
        return np.empty(0, dtype=np.int64)
    first = mwi[: int(2 * fs)]
    spk, npk = 0.25 * float(first.max()), 0.5 * float(first.mean())
    beats: list[int] = []
    rr: list[int] = []
    for i, c in enumerate(cands):
        v = float(mwi[c])
        thr = npk + 0.25 * (spk - npk)
        if v > thr:
            beats.append(int(c))
            spk = 0.125 * v + 0.875 * spk
        else:
            npk = 0.125 * v + 0.875 * npk
        if len(beats) >= 2 and beats[-1] == int(c):
            rr.append(beats[-1] - beats[-2])
            rr = rr[-8:]
        # search back when no beat for 1.66 mean RR: take the largest candidate above thr / 2
        if rr and i + 1 < cands.size and beats:
            mean_rr = float(np.mean(rr))
            if cands[i + 1] - beats[-1] > 1.66 * mean_rr:
                lo = beats[-1] + int(0.2 * fs)
                between = cands[(cands > lo) & (cands < cands[i + 1])]
                between = between[~np.isin(between, beats)]
                if between.size:
                    best = between[np.argmax(mwi[between])]
                    if mwi[best] > 0.5 * thr:
                        beats.append(int(best))
                        beats.sort()
                        spk = 0.25 * float(mwi[best]) + 0.75 * spk
    peaks = np.array(sorted(set(beats)), dtype=np.int64)
    # R-peak: the largest |deflection| of the filtered ECG within the integration window
    out = np.empty_like(peaks)
    for n, p in enumerate(peaks):
        a = max(0, p - win - int(0.05 * fs))
        seg = ecg_f[a : p + 1]
        out[n] = a + int(np.argmax(np.abs(seg)))
    delay = int(round(group_delay_s(preset("ecg"), fs, 10.0) * fs))
    out = np.clip(out - delay, 0, x.size - 1)
    return np.unique(out)


#: Elgendi et al. (2013) settings (seconds): the systolic-peak and the beat moving averages, and
#: the shortest gap between two peaks. The threshold offset (a share of the mean squared signal
#: added to the beat average) is 0 here, not the paper's 0.02: on the 25 Stress-Predict wrists it
#: made the detector's heart rate agree better with the E4's own (see README, "The DSP").
PULSE_PEAK_WINDOW_S = 0.111
PULSE_BEAT_WINDOW_S = 0.667
PULSE_MIN_DELAY_S = 0.3
PULSE_BEAT_OFFSET = 0.0


def systolic_peaks(bvp_filtered: np.ndarray, fs: float) -> np.ndarray:
    """Systolic peaks of an already band-passed (about 0.5 to 8 Hz) BVP/PPG signal.

    Elgendi et al. (2013), "Systolic peak detection in acceleration photoplethysmograms measured
    from emergency responders in tropical conditions", PLoS ONE 8(10): e76585: the positive part
    of the signal is squared; where its 111 ms moving average exceeds its 667 ms moving average
    (one beat) a wave begins; in every wave at least 111 ms long the largest sample is a peak;
    a peak closer than 300 ms to the one before is dropped. Unlike a fixed prominence threshold
    it follows the pulse amplitude beat by beat, so it keeps beats through the amplitude swings
    of a moving wrist.

    Parameters
    ----------
    bvp_filtered
        Band-passed pulse wave, shape ``(n,)``, any unit; NaN is not allowed.
    fs
        Sampling rate in Hz.

    Returns
    -------
    Increasing sample indices into ``bvp_filtered``, shape ``(n_beats,)``.
    """
    y = np.asarray(bvp_filtered, dtype=np.float64)
    sq = np.square(np.clip(y, 0.0, None))
    short = max(1, int(np.rint(PULSE_PEAK_WINDOW_S * fs)))
    ma_peak = uniform_filter1d(sq, short, mode="nearest")
    ma_beat = uniform_filter1d(sq, max(1, int(np.rint(PULSE_BEAT_WINDOW_S * fs))), mode="nearest")
    if PULSE_BEAT_OFFSET:
        ma_beat += PULSE_BEAT_OFFSET * sq.mean()
    waves = np.diff((ma_peak > ma_beat).view(np.int8))
    begin = np.flatnonzero(waves == 1) + 1
    end = np.flatnonzero(waves == -1) + 1
    if begin.size == 0:
        return np.empty(0, dtype=np.int64)
    end = end[end > begin[0]]
    n = min(begin.size, end.size)
    long_enough = end[:n] - begin[:n] >= short
    begin, end = begin[:n][long_enough], end[:n][long_enough]
    if begin.size == 0:
        return np.empty(0, dtype=np.int64)
    # the largest sample of every wave at once: waves as rows, padded with -inf
    offsets = np.arange(int((end - begin).max()))
    idx = begin[:, None] + offsets[None, :]
    inside = idx < end[:, None]
    vals = np.where(inside, y[np.minimum(idx, y.size - 1)], -np.inf)
    peaks = begin + np.argmax(vals, axis=1)
    apart = np.ones(peaks.size, dtype=bool)
    apart[1:] = np.diff(peaks) > int(np.rint(PULSE_MIN_DELAY_S * fs))
    out: np.ndarray = peaks[apart].astype(np.int64)
    return out


def refine_peaks(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Peak positions refined to a fraction of a sample by a parabola through each peak and its
    neighbours (at a 32 Hz model rate a whole sample is 31 ms, more than a calm RMSSD).

    Returns float sample positions, shape ``(n_peaks,)``.
    """
    p = np.asarray(peaks, dtype=np.int64)
    pos = p.astype(np.float64)
    inner = (p > 0) & (p < x.size - 1)
    i = p[inner]
    a, b, c = x[i - 1], x[i], x[i + 1]
    den = a - 2 * b + c
    curved = den < 0  # a true maximum; elsewhere (flat, NaN) the sample position stays
    off = np.zeros(den.shape)
    off[curved] = 0.5 * (a[curved] - c[curved]) / den[curved]
    pos[inner] += np.clip(off, -0.5, 0.5)
    return pos


def detect_pulse_peaks(bvp: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of systolic peaks in a raw BVP/PPG signal, shape ``(n_beats,)``.

    BVP preset filter (0.5 to 8 Hz), then :func:`systolic_peaks`; positions are corrected for
    the filter's group delay at 1.5 Hz.
    """
    x = np.asarray(bvp, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"detect_pulse_peaks takes shape (n,); got {x.shape}")
    if fs < 16:
        raise ValueError(f"BVP at {fs:g} Hz is too slow for pulse detection; it needs >= 16 Hz")
    if x.size < 2 * fs:
        return np.empty(0, dtype=np.int64)
    peaks = systolic_peaks(filter_offline(x, preset("bvp"), fs), fs)
    delay = int(round(group_delay_s(preset("bvp"), fs, 1.5) * fs))
    out: np.ndarray = np.clip(peaks - delay, 0, x.size - 1).astype(np.int64)
    return out


def beat_intervals(peaks: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Inter-beat intervals from beat indices.

    Returns
    -------
    t, ibi
        Time of each interval's second beat and the interval, both in seconds, shape
        ``(n_beats - 1,)``.
    """
    p = np.asarray(peaks, dtype=np.float64) / fs
    return p[1:], np.diff(p)


def plausible_intervals(ibi: np.ndarray) -> np.ndarray:
    """The inter-beat intervals (s) within :data:`MIN_IBI_S` to :data:`MAX_IBI_S`: a missed or
    an extra beat gives an interval outside, which is dropped."""
    return ibi[(ibi >= MIN_IBI_S) & (ibi <= MAX_IBI_S)]


def median_rate_bpm(ibi: np.ndarray, min_intervals: int = 2) -> float:
    """Heart rate (beats/min) as 60 / the median of the plausible intervals (s); NaN with fewer
    than ``min_intervals`` of them."""
    ok = plausible_intervals(ibi)
    return 60.0 / float(np.median(ok)) if ok.size >= max(min_intervals, 1) else float("nan")


def heart_rate_series(
    peaks: np.ndarray, fs: float, at: np.ndarray, window_s: float = 10.0
) -> np.ndarray:
    """Heart rate in beats/min at times ``at`` (seconds from the first sample).

    Each value is 60 / median of the plausible intervals ending in ``(at - window_s, at]``; NaN
    where there are fewer than two.
    """
    t, ibi = beat_intervals(peaks, fs)
    out = np.full(np.shape(at), np.nan)
    lo = np.searchsorted(t, np.asarray(at) - window_s, side="right")
    hi = np.searchsorted(t, at, side="right")
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        out[i] = median_rate_bpm(ibi[a:b])
    return out


@dataclass(frozen=True)
class BeatScore:
    """Detector performance against reference beats."""

    n_reference: int
    n_detected: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def sensitivity(self) -> float:
        """TP / (TP + FN)."""
        d = self.true_positives + self.false_negatives
        return self.true_positives / d if d else float("nan")

    @property
    def positive_predictivity(self) -> float:
        """TP / (TP + FP)."""
        d = self.true_positives + self.false_positives
        return self.true_positives / d if d else float("nan")

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready figures."""
        return {
            "n_reference": self.n_reference,
            "n_detected": self.n_detected,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "sensitivity": self.sensitivity,
            "positive_predictivity": self.positive_predictivity,
        }


def score_beats(detected: np.ndarray, reference: np.ndarray, tolerance: int) -> BeatScore:
    """Match detected to reference beats one to one within ``tolerance`` samples.

    Each reference beat takes the nearest unmatched detection within tolerance (both sorted).
    """
    det = np.sort(np.asarray(detected, dtype=np.int64))
    ref = np.sort(np.asarray(reference, dtype=np.int64))
    used = np.zeros(det.size, dtype=bool)
    tp = 0
    for r in ref:
        lo, hi = np.searchsorted(det, [r - tolerance, r + tolerance], side="left")
        hi = min(hi + 1, det.size)
        best, best_d = -1, tolerance + 1
        for j in range(lo, hi):
            d = abs(int(det[j]) - int(r))
            if not used[j] and d <= tolerance and d < best_d:
                best, best_d = j, d
        if best >= 0:
            used[best] = True
            tp += 1
    return BeatScore(ref.size, det.size, tp, int(det.size - tp), int(ref.size - tp))
