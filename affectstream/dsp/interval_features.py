"""Window features from a device's own heart rate (``hr``) or beat intervals (``ibi``).

Many wearables give the heart rate (beats/min, about 1 Hz) or beat-to-beat intervals (seconds,
one per beat) rather than a pulse wave. These channels reach the frames like any other modality
(no filter; linearly interpolated onto the model grid between samples up to
:data:`affectstream.dsp.presets.MAX_GAP_S` apart), and the features here read them directly:
no beats are detected.

- ``hr``: mean, spread (standard deviation) and slope of the heart rate over the window.
- ``ibi``: the heart rate from the median interval, and RMSSD and SDNN of the intervals. The
  intervals are read back from the interpolated frames one beat at a time (the interval curve
  at the window's start, then one interval later, and so on), so each beat counts once however
  long its interval is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from affectstream.dsp.beats import MIN_IBI_S, median_rate_bpm, plausible_intervals

#: Feature names per interval modality, in output order.
INTERVAL_FEATURES: dict[str, tuple[str, ...]] = {
    "hr": ("hr_mean_bpm", "hr_std_bpm", "hr_slope_bpm_per_s"),
    "ibi": ("ibi_hr_bpm", "ibi_rmssd_s", "ibi_sdnn_s"),
}


def interval_feature_names(channel_names: Sequence[str]) -> list[str]:
    """Names of the features :func:`interval_window_features` returns for these channels."""
    mods = {c.split(":")[0] for c in channel_names}
    return [n for m, names in INTERVAL_FEATURES.items() if m in mods for n in names]


def _channel(x: np.ndarray, channel_names: Sequence[str], modality: str) -> np.ndarray | None:
    for i, c in enumerate(channel_names):
        if c.split(":")[0] == modality:
            return x[:, i]
    return None


def hr_features(hr: np.ndarray, rate: float) -> list[float]:
    """Mean and standard deviation (beats/min) and least-squares slope (beats/min per second)
    of a heart-rate channel, shape ``(n_frames,)`` at ``rate`` Hz; NaN frames skipped."""
    ok = np.isfinite(hr)
    if ok.sum() < 2:
        return [float("nan")] * 3
    t = np.flatnonzero(ok) / rate
    y = hr[ok]
    dt = t - t.mean()
    return [float(y.mean()), float(y.std()), float(np.dot(dt, y - y.mean()) / np.dot(dt, dt))]


def beat_intervals(ibi: np.ndarray, rate: float) -> np.ndarray:
    """The intervals of consecutive beats read back from an interval channel.

    Parameters
    ----------
    ibi
        Beat-interval frames in seconds, shape ``(n_frames,)`` at ``rate`` Hz (NaN where
        missing).
    rate
        Frame rate in Hz.

    Returns
    -------
    Shape ``(n_beats,)``, seconds: the channel's value at the first finite frame, then at
    that time plus the value read, and so on to the window's end.
    """
    out: list[float] = []
    n = ibi.size
    finite = np.flatnonzero(np.isfinite(ibi))
    if finite.size == 0:
        return np.empty(0)
    pos = float(finite[0])
    while pos < n:
        i = int(pos)
        v = ibi[i]
        if not np.isfinite(v) or v < MIN_IBI_S:
            nxt = finite[finite > i]  # skip a gap to the next known value
            if nxt.size == 0:
                break
            pos = float(nxt[0])
            continue
        out.append(float(v))
        pos += v * rate
    return np.asarray(out)


def ibi_features(ibi: np.ndarray, rate: float) -> list[float]:
    """Heart rate (beats/min, from the median plausible interval), RMSSD and SDNN (seconds) of
    an interval channel, shape ``(n_frames,)`` at ``rate`` Hz."""
    iv = plausible_intervals(beat_intervals(ibi, rate))
    hr = median_rate_bpm(iv)
    rmssd = float(np.sqrt(np.mean(np.diff(iv) ** 2))) if iv.size >= 3 else float("nan")
    sdnn = float(np.std(iv)) if iv.size >= 2 else float("nan")
    return [hr, rmssd, sdnn]


def interval_window_features(
    x: np.ndarray, channel_names: Sequence[str], rate: float
) -> list[float]:
    """The ``hr`` and ``ibi`` features of one window of frames.

    Parameters
    ----------
    x
        Frames, shape ``(n_frames, n_channels)``, in physical units (not normalised).
    channel_names
        Frame column names.
    rate
        Frame rate in Hz.

    Returns
    -------
    ``len(interval_feature_names(channel_names))`` values; NaN where one cannot be computed.
    """
    out: list[float] = []
    hr = _channel(x, channel_names, "hr")
    if hr is not None:
        out += hr_features(hr, rate)
    ibi = _channel(x, channel_names, "ibi")
    if ibi is not None:
        out += ibi_features(ibi, rate)
    return out
