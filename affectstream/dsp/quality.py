"""Simple signal-quality indices, each a fraction in [0, 1] where 0 is clean.

- flat line: share of samples in runs that do not change for longer than a set time;
- clipping: share of samples sitting at the signal's extreme values (a saturated ADC);
- out of range: share of samples outside a physiologically plausible range per modality;
- implausible beat intervals: share of inter-beat intervals outside 30-220 beats/min or jumping
  more than 30 % from the previous one.
"""

from __future__ import annotations

import numpy as np

from affectstream.dsp.beats import (
    MAX_IBI_S,
    MIN_IBI_S,
    beat_intervals,
    detect_pulse_peaks,
    detect_r_peaks,
)

#: Plausible raw ranges per modality, in the modality's unit (EDA uS, TEMP degC, ECG mV).
PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "eda": (0.0, 100.0),
    "temp": (20.0, 43.0),
    "ecg": (-10.0, 10.0),
    "bvp": (-5000.0, 5000.0),
}


def _as_2d(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def flatline_fraction(
    x: np.ndarray, fs: float, min_duration_s: float = 1.0, tolerance: float = 0.0
) -> float:
    """Share of samples in runs of (near-)constant value longer than ``min_duration_s``.

    ``x`` is shape ``(n,)`` or ``(n, ch)``; a sample counts when any channel is flat.
    Two neighbours are "the same" when they differ by at most ``tolerance``.
    """
    a = _as_2d(x)
    n = a.shape[0]
    if n < 2:
        return 0.0
    still = np.abs(np.diff(a, axis=0)) <= tolerance  # (n-1, ch)
    limit = max(1, int(round(min_duration_s * fs)))
    flat = np.zeros(n, dtype=bool)
    for c in range(a.shape[1]):
        e = np.diff(np.concatenate(([0], still[:, c].view(np.int8), [0])))
        for s, t in zip(np.flatnonzero(e == 1), np.flatnonzero(e == -1), strict=True):
            if t - s >= limit:
                flat[s : t + 1] = True
    return float(flat.mean())


def clipping_fraction(x: np.ndarray, min_run: int = 3) -> float:
    """Share of samples sitting at the channel's max or min in runs of at least ``min_run``.

    A healthy signal touches its extremes once or twice; a saturated one dwells there.
    """
    a = _as_2d(x)
    if a.shape[0] < min_run:
        return 0.0
    clip = np.zeros(a.shape[0], dtype=bool)
    for c in range(a.shape[1]):
        col = a[:, c]
        fin = col[np.isfinite(col)]
        if fin.size == 0 or fin.max() == fin.min():
            continue
        at = (col == fin.max()) | (col == fin.min())
        e = np.diff(np.concatenate(([0], at.view(np.int8), [0])))
        for s, t in zip(np.flatnonzero(e == 1), np.flatnonzero(e == -1), strict=True):
            if t - s >= min_run:
                clip[s:t] = True
    return float(clip.mean())


def out_of_range_fraction(
    x: np.ndarray, modality: str | None = None, lo: float | None = None, hi: float | None = None
) -> float:
    """Share of samples outside ``[lo, hi]`` (default: :data:`PLAUSIBLE_RANGE` of the modality).

    Non-finite samples count as out of range.
    """
    a = _as_2d(x)
    if a.size == 0:
        return 0.0
    if lo is None or hi is None:
        if modality not in PLAUSIBLE_RANGE:
            raise ValueError(
                f"no plausible range known for {modality!r}; pass lo and hi "
                f"(known: {', '.join(PLAUSIBLE_RANGE)})"
            )
        lo, hi = PLAUSIBLE_RANGE[modality]
    with np.errstate(invalid="ignore"):
        bad = ~((a >= lo) & (a <= hi))
    return float(bad.any(axis=1).mean())


def implausible_ibi_fraction(ibi: np.ndarray, max_jump: float = 0.3) -> float:
    """Share of inter-beat intervals (seconds) outside 30-220 beats/min or jumping > ``max_jump``.

    Returns 1.0 when there are no intervals at all (no beats is not a clean signal).
    """
    v = np.asarray(ibi, dtype=np.float64)
    if v.size == 0:
        return 1.0
    bad = (v < MIN_IBI_S) | (v > MAX_IBI_S) | ~np.isfinite(v)
    if v.size > 1:
        jump = np.abs(np.diff(v)) / np.maximum(v[:-1], 1e-9) > max_jump
        bad[1:] |= jump
    return float(bad.mean())


def signal_quality(x: np.ndarray, fs: float, modality: str) -> dict[str, float]:
    """All indices that apply to a raw window of ``modality``; keys name the index.

    ``quality`` is 1 minus the worst index: 1 is clean, 0 unusable.
    """
    out = {
        "flatline": flatline_fraction(x, fs),
        "clipping": clipping_fraction(x),
    }
    if modality in PLAUSIBLE_RANGE:
        out["out_of_range"] = out_of_range_fraction(x, modality)
    a = _as_2d(x)
    if modality in ("ecg", "bvp") and a.shape[0] >= 4 * fs:
        detect = detect_r_peaks if modality == "ecg" else detect_pulse_peaks
        _, ibi = beat_intervals(detect(a[:, 0], fs), fs)
        out["implausible_ibi"] = implausible_ibi_fraction(ibi)
    out["quality"] = 1.0 - max(out.values())
    return out


#: Frame-to-frame change below which a cardiac channel counts as flat (its unit: mV, a.u.).
FLAT_TOLERANCE = {"ecg": 1e-4, "bvp": 1e-2}

#: A window whose quality falls below this is abstained on.
MIN_WINDOW_QUALITY = 0.5

#: Derived frame columns left out of the missing-data count: they are computed from the recorded
#: channels and are NaN until the first beats of a session are known (about 6 s), which in a
#: one-minute record is a tenth of every window; the model reads them as 0 there.
DERIVED_COLUMNS = ("heart_rate",)


#: The start of the reason given for a window with more missing frames than allowed.
MISSING_REASON = "missing data"


def feeds_calibration(reason: str | None) -> bool:
    """Whether a window abstained on for ``reason`` (None: predicted) still feeds the person's
    feature calibration. A window with too much missing data does not: the few seconds of
    signal it holds say little about the person, and a monitor resumed from a saved state
    (whose window content is lost) then calibrates exactly as one that ran on through a gap."""
    return reason is None or not reason.startswith(MISSING_REASON)


#: A cardiac channel's frame counts as flat once this many seconds of frames up to it changed by
#: at most :data:`FLAT_TOLERANCE` from one to the next.
FLAT_MIN_S = 5.0


def flat_frame_count(col: np.ndarray, tolerance: float, limit: int) -> int:
    """Frames of ``col`` (shape ``(n,)``) preceded, inside ``col``, by ``limit`` frame-to-frame
    changes of at most ``tolerance`` (a change next to a NaN frame is not one)."""
    if col.size <= limit:
        return 0
    with np.errstate(invalid="ignore"):
        moved = ~(np.abs(np.diff(col)) <= tolerance)
    cs = np.concatenate(([0], np.cumsum(moved)))
    return int(np.count_nonzero(cs[limit:] == cs[:-limit]))


def window_quality(
    x: np.ndarray, channel_names: list[str], rate: float, max_missing: float = 0.1
) -> tuple[float, str | None]:
    """Quality of one window of frames and, when it is too poor to predict on, the reason.

    Every index counts frames decided by frames inside the window, so a sliding window keeps
    it up to date hop by hop (:class:`affectstream.dsp.sliding_quality.SlidingQuality`, what
    sessions and training use) with the values this from-scratch computation gives.

    Parameters
    ----------
    x
        Frames in physical units, shape ``(n_frames, n_channels)``; NaN where missing.
    channel_names
        Frame column names (``bvp``, ``eda``, ``ecg:MLII``, ...).
    rate
        Frame rate in Hz.
    max_missing
        Largest fraction of missing frames that still gets a prediction (recorded channels;
        :data:`DERIVED_COLUMNS` are not counted).

    Returns
    -------
    quality, reason
        Quality in [0, 1] (1 minus the worst of: the share of frames missing; per cardiac
        channel the share of frames flat for :data:`FLAT_MIN_S` before them; per channel with a
        :data:`PLAUSIBLE_RANGE` the share of its finite frames outside it) and None, or a
        reason for abstaining.
    """
    recorded = [c for c, name in enumerate(channel_names) if name not in DERIVED_COLUMNS]
    xr = x[:, recorded] if len(recorded) < x.shape[1] else x
    n = x.shape[0]
    missing = float(np.isnan(xr).any(axis=1).mean()) if xr.size else 1.0
    limit = max(1, int(round(FLAT_MIN_S * rate)))
    fractions = []
    for c, name in enumerate(channel_names):
        mod = name.split(":")[0]
        col = x[:, c]
        flat = oor = 0.0
        if mod in FLAT_TOLERANCE and n:
            flat = flat_frame_count(col, FLAT_TOLERANCE[mod], limit) / n
        if mod in PLAUSIBLE_RANGE:
            fin = np.isfinite(col)
            lo, hi = PLAUSIBLE_RANGE[mod]
            n_fin = int(fin.sum())
            oor = float(((col[fin] < lo) | (col[fin] > hi)).sum()) / n_fin if n_fin else 0.0
        fractions.append((flat, oor))
    return judge_quality(missing, fractions, channel_names, max_missing)


def judge_quality(
    missing: float,
    fractions: list[tuple[float, float]],
    channel_names: list[str],
    max_missing: float,
) -> tuple[float, str | None]:
    """:func:`window_quality`'s verdict from its indices: the share of frames missing and, per
    channel, the flat and out-of-range shares."""
    if missing > max_missing:
        return 1.0 - missing, f"{MISSING_REASON} ({missing:.0%} of the window)"
    worst, why = missing, MISSING_REASON
    for name, (flat, oor) in zip(channel_names, fractions, strict=True):
        if flat > worst:
            worst, why = flat, f"{name} flat line"
        if oor > worst:
            worst, why = oor, f"{name} out of range"
    quality = 1.0 - worst
    if quality < MIN_WINDOW_QUALITY:
        return quality, f"poor signal quality: {why} ({worst:.0%} of the window)"
    return quality, None
