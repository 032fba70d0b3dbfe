"""Hand-made window features for the baseline models: heart rate and HRV, EDA, TEMP.

Computed from the same model-grid frames the CNN sees (one window, shape ``(n_frames,
n_channels)``), so the baselines and the CNN are compared on exactly the same input. Every
feature is a statistic of items found once, each from a fixed span of frames (a beat block, a
response's rise, a phasic value's tonic span, a pair of level samples), and a window counts the
items whose span lies inside it: that is what lets the sliding path
(:mod:`affectstream.dsp.sliding_features`) keep them hop by hop, equal to this from-scratch
computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from affectstream.dsp.beats import median_rate_bpm, plausible_intervals
from affectstream.dsp.heart_rate import BLOCK_S, CONTEXT_S, MARGIN_S, block_beats
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
#: records it and is served only by the version that trained it. 3: every feature a statistic of
#: items found once as frames arrive (beats in 5 s blocks on the absolute grid, skin-conductance
#: responses and phasic values over fixed spans, level samples on the absolute 4 Hz grid), each
#: counted in a window when the frames it was found in lie inside it, so a sliding window keeps
#: them up to date hop by hop (:class:`affectstream.dsp.sliding_features.SlidingFeatures`).
#: 2: systolic peaks by :func:`affectstream.dsp.beats.systolic_peaks` over the whole window and
#: pulse amplitude peak-to-trough (1: peaks above a fixed prominence, amplitude as prominence).
FEATURES_VERSION = 3

#: Minimum skin-conductance-response amplitude counted as a response (microsiemens).
SCR_MIN_AMPLITUDE_US = 0.01

#: A response's rise is measured from the lowest level in this many seconds before its peak.
SCR_RISE_S = 4.0

#: A response's peak is the largest level within this many seconds either side of it.
SCR_PEAK_HALF_S = 0.5

#: Span of the centred moving average taken as the tonic EDA level (seconds); the rest is phasic.
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


@dataclass(frozen=True)
class FeatureLayout:
    """Where each feature group reads its frames and the spans (in frames or level samples)
    over which its items are found; shared by :func:`window_features` and the sliding path.

    Attributes
    ----------
    cardiac
        Column of the beat source (one ECG lead at >= 100 Hz, else the pulse wave), None when
        there is none, and the source kind (``"ecg"`` or ``"bvp"``).
    eda, temp
        Columns, None when absent.
    step, level_rate
        Level samples are the frames whose grid index is a multiple of ``step``, at
        ``level_rate`` Hz.
    block, context, margin
        Beat blocks (frames): the beats in ``[b, b + block)`` for ``b`` a multiple of ``block``,
        read from frames ``[b - context, b + block + margin)``.
    scr_rise, scr_half, tonic_half
        Level samples: a response's rise span before its peak, its peak's half neighbourhood,
        half the tonic span.
    """

    has_cardiac: bool
    cardiac: int | None
    source: str
    eda: int | None
    temp: int | None
    step: int
    level_rate: float
    block: int
    context: int
    margin: int
    scr_rise: int
    scr_half: int
    tonic_half: int

    @classmethod
    def of(
        cls, channel_names: Sequence[str], rate: float, window: int | None = None
    ) -> FeatureLayout:
        """The layout for these frame columns at ``rate`` Hz and windows of ``window`` frames
        (a window shorter than :data:`TONIC_SPAN_S` takes the longest tonic span it holds)."""
        mods = [c.split(":")[0] for c in channel_names]
        ecg = mods.index("ecg") if "ecg" in mods else None
        bvp = mods.index("bvp") if "bvp" in mods else None
        cardiac: int | None
        if ecg is not None and rate >= 100:
            cardiac, source = ecg, "ecg"
        else:
            cardiac, source = bvp, "bvp"
        step = max(1, int(rate // LEVEL_RATE_HZ))
        level_rate = rate / step
        return cls(
            has_cardiac=ecg is not None or bvp is not None,
            cardiac=cardiac,
            source=source,
            eda=mods.index("eda") if "eda" in mods else None,
            temp=mods.index("temp") if "temp" in mods else None,
            step=step,
            level_rate=level_rate,
            block=max(1, int(round(BLOCK_S * rate))),
            context=int(round(CONTEXT_S * rate)),
            margin=int(round(MARGIN_S * rate)),
            scr_rise=max(1, int(round(SCR_RISE_S * level_rate))),
            scr_half=max(1, int(round(SCR_PEAK_HALF_S * level_rate))),
            tonic_half=min(
                int(TONIC_SPAN_S * level_rate) // 2,
                max(1, (window // step - 1) // 2) if window is not None else 1 << 30,
            ),
        )


def cardiac_features(beats: np.ndarray, amplitudes: np.ndarray, rate: float) -> list[float]:
    """Heart rate (beats/min), RMSSD and SDNN (s) from the plausible intervals of consecutive
    beats (grid positions, shape ``(n,)``), log of the median beat amplitude."""
    ibi = plausible_intervals(np.diff(beats) / rate)
    hr = median_rate_bpm(ibi)
    rmssd = float(np.sqrt(np.mean(np.diff(ibi) ** 2))) if ibi.size >= 3 else float("nan")
    sdnn = float(np.std(ibi)) if ibi.size >= 2 else float("nan")
    amp = float(np.log(np.median(amplitudes) + 1e-9)) if amplitudes.size else float("nan")
    return [hr, rmssd, sdnn, amp]


def window_beats(
    src: np.ndarray, k0: int, rate: float, layout: FeatureLayout
) -> tuple[np.ndarray, np.ndarray]:
    """Beats of one window of the beat source (frames ``k0 ...``): those of every block read
    whole inside the window, positions (grid) and amplitudes, shapes ``(n_beats,)``."""
    lo_b = -(-(k0 + layout.context) // layout.block) * layout.block
    pos, amp = [], []
    for b in range(lo_b, k0 + src.size - layout.block - layout.margin + 1, layout.block):
        a = b - layout.context
        seg = src[a - k0 : b + layout.block + layout.margin - k0]
        p, m = block_beats(seg, a, b, layout.block, rate, layout.source)
        pos.append(p)
        amp.append(m)
    if not pos:
        return np.empty(0), np.empty(0)
    return np.concatenate(pos), np.concatenate(amp)


def _slope(u: np.ndarray, y: np.ndarray, level_rate: float) -> float:
    """Least-squares slope of ``y`` on level-sample index ``u``, per second."""
    if y.size < 2:
        return float("nan")
    du = u - u.mean()
    den = float(np.dot(du, du))
    return float(np.dot(du, y - y.mean()) / den * level_rate) if den > 0 else float("nan")


def eda_features(e: np.ndarray, u: np.ndarray, layout: FeatureLayout) -> list[float]:
    """Skin conductance features of one window's level samples (microsiemens, seconds).

    ``e`` holds the window's level samples in order (NaN where missing), ``u`` their level
    indices on the absolute grid. Level (mean, std, slope, range of the finite samples);
    responses (count and summed amplitude: a level sample that is the largest within
    :data:`SCR_PEAK_HALF_S` either side, risen at least :data:`SCR_MIN_AMPLITUDE_US` above the
    lowest level in the :data:`SCR_RISE_S` before it); phasic activity (std of each sample minus
    the centred :data:`TONIC_SPAN_S` mean around it, or the longest odd span the window holds);
    mean rate of rise between neighbouring samples (0 when it never rises). Responses and
    phasic values count only where their whole span is inside the window and finite.
    """
    fin = np.isfinite(e)
    if not fin.any():
        return [float("nan")] * len(MODALITY_FEATURES["eda"])
    ef, uf = e[fin], u[fin]
    rate = layout.level_rate
    L, P, H = layout.scr_rise, layout.scr_half, layout.tonic_half
    count, amp_sum = 0.0, 0.0
    if e.size >= L + P + 1:
        w = sliding_window_view(e, L + P + 1)
        ok = np.isfinite(w).all(axis=1)
        c = w[:, L]
        with np.errstate(invalid="ignore"):
            peak = (c > w[:, L - P : L].max(axis=1)) & (c >= w[:, L + 1 :].max(axis=1))
            amp = c - w[:, : L + 1].min(axis=1)
            hit = ok & peak & (amp >= SCR_MIN_AMPLITUDE_US)
        count, amp_sum = float(hit.sum()), float(amp[hit].sum())
    phasic_std = float("nan")
    if e.size >= 2 * H + 1:
        w = sliding_window_view(e, 2 * H + 1)
        ok = np.isfinite(w).all(axis=1)
        if ok.any():
            w = w[ok]
            phasic_std = float(np.std(w[:, H] - w.mean(axis=1)))
    d = np.diff(e) * rate
    with np.errstate(invalid="ignore"):
        rising = d[d > 0]
    return [
        float(ef.mean()),
        float(ef.std()),
        _slope(uf.astype(np.float64), ef, rate),
        float(np.ptp(ef)),
        count,
        amp_sum,
        phasic_std,
        float(rising.mean()) if rising.size else 0.0,
    ]


def window_features(
    x: np.ndarray, channel_names: Sequence[str], rate: float, k0: int = 0
) -> np.ndarray:
    """Features of one window of frames, computed from scratch (the definition; the live and
    training path keeps the same values up to date as the window slides:
    :class:`affectstream.dsp.sliding_features.SlidingFeatures`).

    Parameters
    ----------
    x
        Frames, shape ``(n_frames, n_channels)``, in physical units (not normalised).
    channel_names
        Frame column names (``bvp``, ``eda``, ``temp``, ``ecg:MLII``, ...).
    rate
        Frame rate in Hz.
    k0
        Grid index of the first frame (frame ``i`` is at ``(k0 + i) / rate`` s): beat blocks and
        level samples sit on the absolute grid.

    Returns
    -------
    Shape ``(len(feature_names(channel_names)),)``; NaN where a feature cannot be computed.
    """
    lay = FeatureLayout.of(channel_names, rate, x.shape[0])
    out: list[float] = []
    if lay.has_cardiac:
        src = None if lay.cardiac is None else x[:, lay.cardiac]
        if src is not None and np.isfinite(src).all():
            out += cardiac_features(*window_beats(src, k0, rate, lay), rate)
        else:
            out += [float("nan")] * 4
    first = (-k0) % lay.step
    u = (k0 + first) // lay.step + np.arange(max(0, -(-(x.shape[0] - first) // lay.step)))
    if lay.eda is not None:
        out += eda_features(x[first :: lay.step, lay.eda], u, lay)
    if lay.temp is not None:
        t = x[first :: lay.step, lay.temp]
        ok = np.isfinite(t)
        out += [
            float(t[ok].mean()) if ok.any() else float("nan"),
            _slope(u[ok].astype(np.float64), t[ok], lay.level_rate),
        ]
    out += interval_window_features(x, channel_names, rate)
    return np.asarray(out, dtype=np.float64)
