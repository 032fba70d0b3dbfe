"""Hand-made window features for the baseline models: heart rate and HRV, EDA, TEMP.

Computed from the same model-grid frames the CNN sees (one window, shape ``(n_frames,
n_channels)``), so the baselines and the CNN are compared on exactly the same input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal

from affectstream.dsp.beats import (
    detect_r_peaks,
    median_rate_bpm,
    plausible_intervals,
    refine_peaks,
    systolic_peaks,
)
from affectstream.dsp.interval_features import interval_feature_names, interval_window_features

#: Feature names per modality, in output order.
MODALITY_FEATURES: dict[str, tuple[str, ...]] = {
    "cardiac": ("hr_bpm", "rmssd_s", "sdnn_s", "pulse_amplitude_log"),
    "eda": (
        "eda_mean_us",
        "eda_std_us",
        "eda_slope_us_per_s",
        "eda_range_us",
        "eda_scr_count",
        "eda_scr_amplitude_sum_us",
        "eda_phasic_std_us",
        "eda_rise_us_per_s",
    ),
    "temp": ("temp_mean_c", "temp_slope_c_per_s"),
}

#: Version of what :func:`window_features` computes under the same names; a feature model
#: records it and is served only by the version that trained it. 2: systolic peaks by
#: :func:`affectstream.dsp.beats.systolic_peaks` and pulse amplitude peak-to-trough (1: peaks
#: above a fixed prominence, amplitude as prominence).
FEATURES_VERSION = 2

#: Minimum skin-conductance-response amplitude counted as a response (microsiemens).
SCR_MIN_AMPLITUDE_US = 0.01

#: Span of the local linear fit taken as the tonic EDA level (seconds); the rest is phasic.
TONIC_SPAN_S = 20.0


#: Rate (Hz) at which window features read the slow level signals (EDA, TEMP): the E4's own
#: rate, ample for signals low-passed at 1 Hz, and 8x less work than the 32 Hz model grid.
LEVEL_RATE_HZ = 4.0


def feature_names(channel_names: Sequence[str]) -> list[str]:
    """Names of the features :func:`window_features` returns for these channels."""
    names: list[str] = []
    mods = {c.split(":")[0] for c in channel_names}
    if mods & {"ecg", "bvp"}:
        names += MODALITY_FEATURES["cardiac"]
    if "eda" in mods:
        names += MODALITY_FEATURES["eda"]
    if "temp" in mods:
        names += MODALITY_FEATURES["temp"]
    return names + interval_feature_names(channel_names)


def _first_channel(x: np.ndarray, channel_names: Sequence[str], modality: str) -> np.ndarray | None:
    for i, c in enumerate(channel_names):
        if c.split(":")[0] == modality:
            return x[:, i]
    return None


def _slope(y: np.ndarray, rate: float) -> float:
    t = np.arange(y.size) / rate
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    t, y = t[ok], y[ok]
    dt = t - t.mean()  # least-squares line, closed form (np.polyfit is 10x slower here)
    return float(np.dot(dt, y - y.mean()) / np.dot(dt, dt))


def pulse_amplitudes(bvp: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Pulse amplitudes: each systolic peak above the lowest point since the peak before it
    (the signal's unit), shape ``(max(n_peaks - 1, 0),)``."""
    if peaks.size < 2:
        return np.empty(0)
    troughs = np.minimum.reduceat(bvp, peaks[:-1])
    return bvp[peaks[1:]] - troughs


def cardiac_features(beats: np.ndarray, amplitudes: np.ndarray, rate: float) -> list[float]:
    """Heart rate (beats/min), RMSSD and SDNN (s) from plausible intervals, log pulse amplitude."""
    ibi = plausible_intervals(np.diff(beats) / rate)
    hr = median_rate_bpm(ibi)
    rmssd = float(np.sqrt(np.mean(np.diff(ibi) ** 2))) if ibi.size >= 3 else float("nan")
    sdnn = float(np.std(ibi)) if ibi.size >= 2 else float("nan")
    amp = float(np.log(np.median(amplitudes) + 1e-9)) if amplitudes.size else float("nan")
    return [hr, rmssd, sdnn, amp]


def eda_features(eda: np.ndarray, rate: float) -> list[float]:
    """Skin conductance features of one window (microsiemens, seconds), NaN samples skipped.

    Level (mean, std, slope, range), responses (count and summed amplitude of peaks with a
    prominence of at least :data:`SCR_MIN_AMPLITUDE_US`), phasic activity (std of the signal
    minus a :data:`TONIC_SPAN_S` local linear fit) and mean rate of rise.
    """
    e = eda[np.isfinite(eda)]
    _, props = signal.find_peaks(e, prominence=SCR_MIN_AMPLITUDE_US, distance=max(1, int(rate)))
    span = int(TONIC_SPAN_S * rate) | 1
    phasic = e - signal.savgol_filter(e, span, 1) if e.size > span else e - e.mean()
    rise = np.diff(e) * rate
    return [
        float(e.mean()),
        float(e.std()),
        _slope(eda, rate),
        float(np.ptp(e)),
        float(props["prominences"].size),
        float(props["prominences"].sum()),
        float(phasic.std()),
        float(rise[rise > 0].mean()) if (rise > 0).any() else 0.0,
    ]


def window_features(x: np.ndarray, channel_names: Sequence[str], rate: float) -> np.ndarray:
    """Features of one window of frames.

    Parameters
    ----------
    x
        Frames, shape ``(n_frames, n_channels)``, in physical units (not normalised).
    channel_names
        Frame column names (``bvp``, ``eda``, ``temp``, ``ecg:MLII``, ...).
    rate
        Frame rate in Hz.

    Returns
    -------
    Shape ``(len(feature_names(channel_names)),)``; NaN where a feature cannot be computed.
    """
    out: list[float] = []
    ecg = _first_channel(x, channel_names, "ecg")
    bvp = _first_channel(x, channel_names, "bvp")
    if ecg is not None or bvp is not None:
        if ecg is not None and rate >= 100 and np.isfinite(ecg).all():
            beats = detect_r_peaks(ecg, rate)
            amps = np.abs(ecg[beats]) if beats.size else np.empty(0)
            out += cardiac_features(refine_peaks(ecg, beats), amps, rate)
        elif bvp is not None and np.isfinite(bvp).all():
            beats = systolic_peaks(bvp, rate)
            out += cardiac_features(refine_peaks(bvp, beats), pulse_amplitudes(bvp, beats), rate)
        else:
            out += [float("nan")] * 4
    # level signals (low-passed at 1 Hz or below by their presets) are read at LEVEL_RATE_HZ
    step = max(1, int(rate // LEVEL_RATE_HZ))
    level_rate = rate / step
    eda = _first_channel(x, channel_names, "eda")
    if eda is not None:
        if np.isfinite(eda).any():
            out += eda_features(eda[::step], level_rate)
        else:
            out += [float("nan")] * len(MODALITY_FEATURES["eda"])
    temp = _first_channel(x, channel_names, "temp")
    if temp is not None:
        t = temp[::step]
        ok = np.isfinite(t)
        out += [float(t[ok].mean()) if ok.any() else float("nan"), _slope(t, level_rate)]
    out += interval_window_features(x, channel_names, rate)
    return np.asarray(out, dtype=np.float64)
