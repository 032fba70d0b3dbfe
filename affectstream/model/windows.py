"""Cutting labelled windows out of recordings through the serving DSP path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from affectstream.data import Recording
from affectstream.dsp.calibration import (
    RunningStats,
    person_stats,
    rest_available_from,
    stats_available_at,
)
from affectstream.dsp.features import feature_names
from affectstream.dsp.preprocessor import Frames, Preprocessor
from affectstream.dsp.quality import MISSING_REASON, feeds_calibration
from affectstream.dsp.sliding_features import SlidingFeatures
from affectstream.dsp.sliding_quality import SlidingQuality


@dataclass
class SessionStats:
    """Per-session statistics for calibration, in physical units.

    Attributes
    ----------
    n_frames
        Frames in the session.
    mean, var
        Per-channel mean and variance over the whole session, shape ``(n_channels,)``.
    baseline_mean, baseline_std
        Over the first ``baseline_s`` seconds (None when the session is shorter).
    feature_baseline, feature_mean, feature_std
        Mean features of windows ending within the baseline; mean and standard deviation of the
        features of all windows.
    """

    n_frames: int
    mean: np.ndarray
    var: np.ndarray
    baseline_mean: np.ndarray | None
    baseline_std: np.ndarray | None
    feature_baseline: np.ndarray | None
    feature_mean: np.ndarray
    feature_std: np.ndarray


@dataclass
class WindowSet:
    """Labelled windows of model-rate frames, with the groups evaluation splits by.

    Attributes
    ----------
    x
        Frames in physical units, shape ``(n_windows, n_frames, n_channels)``, float32; NaN where
        data was missing.
    features
        Hand-made features, shape ``(n_windows, n_features)``.
    y
        Class index per window, shape ``(n_windows,)``.
    subject, session
        Group ids per window: the person (or the recording when there is no subject id) and the
        recording.
    t_end
        Window end in seconds since the session's first frame.
    running_frames, running_features
        The session's running statistics (:class:`RunningStats`) at each window's end, as
        ``(mean, std)`` of frames ``(n_windows, n_channels)`` and of the features of every window
        on the hop schedule so far ``(n_windows, n_features)``: running calibration's input.
    rest_frames, rest_features
        Likewise for ``rest`` calibration: the statistics of the session's baseline and of its
        rest periods that ended before each window's start (None unless ``make_windows`` was
        given ``rest_labels``, then listed in ``rest_labels``).
    label_age
        Seconds from the start of the labelled period to the window's start, shape
        ``(n_windows,)``: how long the labelled state had lasted (errors cluster early in a
        period, while the body still answers the previous one).
    dropped_missing, dropped_poor_quality
        Labelled windows left out because the monitor abstains on them
        (:func:`~affectstream.dsp.quality.window_quality`): too much missing data, or a flat or
        out-of-range channel.
    dropped_unlabelled, mixed_label_windows
        Windows no single label covers, and those of them that straddle a label change.
    schedule
        Per session, every window on its hop schedule in order (labelled, unlabelled and
        abstained alike): ``(t_end, features)``, shapes ``(m,)`` and ``(m, n_features)``. A
        feature calibration replays it (:func:`~affectstream.model.feature_calibration.replay`)
        as the live monitor sees it; kept whole by :meth:`subset`.
    schedule_row
        Each window's row in its session's :attr:`schedule`, shape ``(n_windows,)``.
    context
        The sessions' other windows on the same schedule, those no single label covers (they
        straddle a label change or lie outside the labelled span), with ``y`` = -1: never trained
        or scored on, only predicted so that output centring
        (:class:`~affectstream.dsp.calibration.OutputCentring`) sees every window the live
        monitor would. Kept whole by :meth:`subset`; None inside a context set.
    """

    x: np.ndarray
    features: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    session: np.ndarray
    t_end: np.ndarray
    running_frames: tuple[np.ndarray, np.ndarray]
    running_features: tuple[np.ndarray, np.ndarray]
    classes: list[str]
    channel_names: list[str]
    feature_names: list[str]
    rate: float
    window_s: float
    hop_s: float
    has_subject_ids: bool
    sessions: dict[str, SessionStats] = field(default_factory=dict)
    dropped_missing: int = 0
    dropped_poor_quality: int = 0
    dropped_unlabelled: int = 0
    mixed_label_windows: int = 0
    rest_frames: tuple[np.ndarray, np.ndarray] | None = None
    rest_features: tuple[np.ndarray, np.ndarray] | None = None
    rest_labels: list[str] | None = None
    label_age: np.ndarray | None = None
    schedule: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    schedule_row: np.ndarray | None = None
    context: WindowSet | None = None

    def __len__(self) -> int:
        return int(self.y.size)

    def counts(self) -> dict[str, int]:
        """Windows per class."""
        return {c: int((self.y == i).sum()) for i, c in enumerate(self.classes)}

    def context_windows(self) -> WindowSet:
        """:attr:`context`, or an empty set of the same shape when there is none."""
        if self.context is not None:
            return self.context
        return self.subset(np.empty(0, dtype=np.int64))

    def subset(self, idx: np.ndarray) -> WindowSet:
        """The windows at ``idx`` (session statistics kept whole)."""
        return replace(
            self,
            x=self.x[idx],
            features=self.features[idx],
            y=self.y[idx],
            subject=self.subject[idx],
            session=self.session[idx],
            t_end=self.t_end[idx],
            running_frames=(self.running_frames[0][idx], self.running_frames[1][idx]),
            running_features=(self.running_features[0][idx], self.running_features[1][idx]),
            rest_frames=_rows(self.rest_frames, idx),
            rest_features=_rows(self.rest_features, idx),
            label_age=None if self.label_age is None else self.label_age[idx],
            schedule_row=None if self.schedule_row is None else self.schedule_row[idx],
        )


def _rows(
    pair: tuple[np.ndarray, np.ndarray] | None, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    return None if pair is None else (pair[0][idx], pair[1][idx])


def make_windows(
    recordings: Sequence[Recording],
    preprocess: Mapping[str, Any],
    *,
    window_s: float = 60.0,
    hop_s: float = 15.0,
    max_missing: float = 0.1,
    baseline_s: float = 300.0,
    classes: Sequence[str] | None = None,
    rest_labels: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> WindowSet:
    """Run every recording through the Preprocessor and cut windows every ``hop_s`` seconds.

    A window is kept when one label interval covers it whole and the live monitor would predict
    on it: :func:`~affectstream.dsp.quality.window_quality` (at most ``max_missing`` of its frames
    missing, no flat or out-of-range channel) finds no reason to abstain. Windows start at the
    session's first frame; the live monitor's hop schedule lines up with them when it starts at
    the same frame.

    Parameters
    ----------
    preprocess
        Preprocessor config (resolved or not).
    classes
        Class order; default: the labels found, sorted.
    rest_labels
        Labels of the person's rest periods: also record ``rest`` calibration's statistics.
    """
    if window_s <= 0 or hop_s <= 0:
        raise ValueError(f"window_s and hop_s must be positive seconds; got {window_s}, {hop_s}")
    pp0 = Preprocessor(preprocess)
    rate, chans = pp0.rate, pp0.channel_names
    fnames = feature_names(chans)
    n_win, n_hop = int(round(window_s * rate)), int(round(hop_s * rate))
    found = sorted({iv.label for r in recordings for iv in r.labels})
    classes = list(classes) if classes is not None else found
    if not classes:
        raise ValueError("the recordings carry no labels; training needs labelled recordings")
    unknown = set(found) - set(classes)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not among the classes {classes}")
    if rest_labels is not None and not set(rest_labels) <= set(classes):
        raise ValueError(
            f"rest labels {sorted(set(rest_labels) - set(classes))} are not among the classes "
            f"{classes}; name the labels of the rest periods in calibration.labels"
        )
    kept, context = _Rows(), _Rows()
    stats: dict[str, SessionStats] = {}
    schedule: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    dropped_unlab = mixed = 0
    abstained: Counter[str] = Counter()  # labelled windows the monitor abstains on, by reason
    has_ids = all(r.subject is not None for r in recordings)
    for i, rec in enumerate(recordings):
        frames = Preprocessor(pp0.config).process_recording(rec)
        key = f"{rec.name}#{i}"
        subj = rec.subject if rec.subject is not None else key
        n = len(frames)
        nb = int(round(baseline_s * rate))
        feats_all, tend_all, span_all = [], [], []
        n_kept, n_context = len(kept), len(context)
        # running statistics in the order the live monitor sees the data: every frame up to the
        # window's end, every window's features up to this one
        rs_x, rs_f, seen = RunningStats(len(chans)), RunningStats(len(fnames)), 0
        sliding = SlidingFeatures(chans, rate, n_win)  # the live session's feature path
        quality = SlidingQuality(chans, rate, n_win, max_missing)  # and its quality path
        for a in range(0, n - n_win + 1, n_hop):
            w = frames.x[a : a + n_win]
            t0, t1 = frames.k[a] / rate, (frames.k[a + n_win - 1] + 1) / rate
            sliding.push(int(frames.k[seen]), frames.x[seen : a + n_win])
            quality.push(int(frames.k[seen]), frames.x[seen : a + n_win])
            f = sliding.features(w)
            _, why = quality.quality()
            f_cal = f if feeds_calibration(why) else np.full_like(f, np.nan)
            rs_x.update(frames.x[seen : a + n_win])
            seen = a + n_win
            rs_f.update(f_cal)
            feats_all.append(f_cal)
            tend_all.append(t1 - frames.k[0] / rate)
            span_all.append((t0, t1))
            interval = rec.interval_covering(t0, t1)
            if interval is None:
                starts = [iv for iv in rec.labels if iv.end > t0 and iv.start < t1]
                if len({iv.label for iv in starts}) > 1:
                    mixed += 1
                dropped_unlab += 1
            if why is not None:  # the monitor abstains on it: no prediction, no output centring
                abstained[why.split(" (")[0]] += interval is not None
                continue
            rows = kept if interval is not None else context
            rows.add(
                w,
                f,
                classes.index(interval.label) if interval is not None else -1,
                t0 - interval.start if interval is not None else float("nan"),
                subj,
                key,
                t1 - frames.k[0] / rate,
                rs_x.stats(),
                rs_f.stats(),
                t0,
                len(feats_all) - 1,
            )
        fa = np.array(feats_all).reshape(-1, len(fnames))
        ta = np.array(tend_all)
        schedule[key] = (ta, fa)
        base_rows = ta <= baseline_s
        if rest_labels is not None:
            spans = np.array(span_all).reshape(-1, 2)
            for rows, first in ((kept, n_kept), (context, n_context)):
                if len(rows) > first:
                    rows.rest.append(
                        _rest_stats(
                            rec, frames, fa, spans, rows.t0[first:], rest_labels, baseline_s
                        )
                    )
        # the person's baseline, computed exactly as the live monitor computes it
        base = (
            person_stats(frames.x, rate, {"kind": "baseline", "baseline_s": baseline_s})
            if n >= nb
            else None
        )
        stats[key] = SessionStats(
            n_frames=n,
            mean=np.nanmean(frames.x, axis=0) if n else np.zeros(len(chans)),
            var=np.nanvar(frames.x, axis=0) if n else np.ones(len(chans)),
            baseline_mean=base[0] if base is not None else None,
            baseline_std=base[1] if base is not None else None,
            feature_baseline=np.nanmean(fa[base_rows], axis=0) if base_rows.any() else None,
            feature_mean=np.nanmean(fa, axis=0) if fa.size else np.zeros(len(fnames)),
            feature_std=np.nanstd(fa, axis=0) if fa.size else np.ones(len(fnames)),
        )
        if progress:
            progress(f"windows: {rec.name}: {len(kept) - n_kept} labelled")
    if not len(kept):
        raise ValueError(
            f"no labelled {window_s:g} s window: every window straddles a label change or lacks "
            "data; use shorter windows or check the labels"
        )
    common = {
        "classes": classes,
        "channel_names": chans,
        "feature_names": fnames,
        "rate": rate,
        "window_s": window_s,
        "hop_s": hop_s,
        "has_subject_ids": has_ids,
        "sessions": stats,
        "schedule": schedule,
        "rest_labels": list(rest_labels) if rest_labels is not None else None,
    }
    return kept.window_set(
        common,
        len(chans),
        len(fnames),
        dropped_missing=abstained[MISSING_REASON],
        dropped_poor_quality=abstained.total() - abstained[MISSING_REASON],
        dropped_unlabelled=dropped_unlab,
        mixed_label_windows=mixed,
        context=context.window_set(common, len(chans), len(fnames)),
    )


class _Rows:
    """Windows being collected by :func:`make_windows`, one list per :class:`WindowSet` field."""

    def __init__(self) -> None:
        self.x: list[np.ndarray] = []
        self.f: list[np.ndarray] = []
        self.y: list[int] = []
        self.age: list[float] = []
        self.subject: list[str] = []
        self.session: list[str] = []
        self.t_end: list[float] = []
        self.run_x: list[tuple[np.ndarray, np.ndarray]] = []
        self.run_f: list[tuple[np.ndarray, np.ndarray]] = []
        self.t0: list[float] = []
        self.schedule_row: list[int] = []
        self.rest: list[tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = []

    def __len__(self) -> int:
        return len(self.y)

    def add(
        self,
        x: np.ndarray,
        f: np.ndarray,
        y: int,
        age: float,
        subject: str,
        session: str,
        t_end: float,
        run_x: tuple[np.ndarray, np.ndarray],
        run_f: tuple[np.ndarray, np.ndarray],
        t0: float,
        schedule_row: int,
    ) -> None:
        self.x.append(x.astype(np.float32))
        self.f.append(f)
        self.y.append(y)
        self.age.append(age)
        self.subject.append(subject)
        self.session.append(session)
        self.t_end.append(t_end)
        self.run_x.append(run_x)
        self.run_f.append(run_f)
        self.t0.append(t0)
        self.schedule_row.append(schedule_row)

    def window_set(
        self, common: dict[str, Any], n_channels: int, n_features: int, **extra: Any
    ) -> WindowSet:
        """The collected windows as a :class:`WindowSet` (``n_channels``/``n_features`` shape
        it when it is empty)."""
        empty = not self.y

        def pair(
            rows: list[tuple[np.ndarray, np.ndarray]], width: int
        ) -> tuple[np.ndarray, np.ndarray]:
            if empty:
                return (np.zeros((0, width)), np.ones((0, width)))
            return (np.array([m for m, _ in rows]), np.array([s for _, s in rows]))

        def rest(which: int, width: int) -> tuple[np.ndarray, np.ndarray] | None:
            if common["rest_labels"] is None:
                return None  # cut without rest labels: no rest statistics
            if empty:
                return pair([], width)
            return _concat_pairs([r[which] for r in self.rest])

        n_win = int(round(common["window_s"] * common["rate"]))
        return WindowSet(
            x=np.stack(self.x) if not empty else np.zeros((0, n_win, n_channels), np.float32),
            features=np.array(self.f).reshape(len(self.y), -1 if not empty else n_features),
            y=np.array(self.y, dtype=np.int64),
            subject=np.array(self.subject, dtype=str),
            session=np.array(self.session, dtype=str),
            t_end=np.array(self.t_end, dtype=np.float64),
            running_frames=pair(self.run_x, n_channels),
            running_features=pair(self.run_f, n_features),
            rest_frames=rest(0, n_channels),
            rest_features=rest(1, n_features),
            label_age=np.array(self.age, dtype=np.float64),
            schedule_row=np.array(self.schedule_row, dtype=np.int64),
            **common,
            **extra,
        )


def _rest_stats(
    rec: Recording,
    frames: Frames,
    features: np.ndarray,
    spans: np.ndarray,
    starts: Sequence[float],
    rest_labels: Sequence[str],
    baseline_s: float,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``rest`` calibration's frame and feature statistics at each of ``starts`` (window starts,
    seconds on the frames' clock): baseline plus the rest intervals ended by then."""
    rate = frames.rate
    intervals = [(iv.start, iv.end) for iv in rec.labels if iv.label in set(rest_labels)]
    base_end = frames.k[0] / rate + baseline_s
    t = frames.k / rate
    at = np.asarray(starts, dtype=np.float64)
    frame_avail = rest_available_from(t, t + 1.0 / rate, base_end, intervals)
    window_avail = rest_available_from(spans[:, 0], spans[:, 1], base_end, intervals)
    return (
        stats_available_at(frames.x, frame_avail, at),
        stats_available_at(features, window_avail, at),
    )


def _concat_pairs(
    per_session: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-session ``(mean, std)`` arrays joined in window order."""
    return (
        np.concatenate([m for m, _ in per_session]),
        np.concatenate([s for _, s in per_session]),
    )
