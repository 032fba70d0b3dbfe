"""The in-memory form of a physiological recording: signals, subject, session and labels.

A :class:`Recording` holds one session of one person. Each modality (ECG, EDA, TEMP, BVP, ...)
is a :class:`Signal` with its own sampling rate and start time, optionally with per-sample
timestamps. Labels are time intervals ``(label, start, end)`` on the same clock as the signals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Canonical modality names and the aliases readers accept for them (case-insensitive).
MODALITY_ALIASES: dict[str, str] = {
    "ecg": "ecg",
    "ekg": "ecg",
    "mlii": "ecg",
    "eda": "eda",
    "gsr": "eda",
    "scl": "eda",
    "sc": "eda",
    "temp": "temp",
    "skt": "temp",
    "temperature": "temp",
    "bvp": "bvp",
    "ppg": "bvp",
    "resp": "resp",
    "acc": "acc",
    "hr": "hr",
    "heartrate": "hr",
    "pulse rate": "hr",
    "ibi": "ibi",
    "rri": "ibi",
    "nni": "ibi",
}

#: Physical unit of each canonical modality.
MODALITY_UNITS: dict[str, str] = {
    "ecg": "mV",
    "eda": "uS",
    "temp": "degC",
    "bvp": "a.u.",
    "resp": "a.u.",
    "acc": "1/64 g",
    "hr": "bpm",
    "ibi": "s",
}


def canonical_modality(name: str) -> str | None:
    """Return the canonical modality for a column or stream name, or None if it is not one.

    ``"GSR"`` -> ``"eda"``, ``"PPG"`` -> ``"bvp"``, ``"ECG lead II"`` -> ``"ecg"``.
    """
    key = name.strip().lower()
    if key in MODALITY_ALIASES:
        return MODALITY_ALIASES[key]
    head = key.replace("-", " ").replace("_", " ").split()
    if head and head[0] in MODALITY_ALIASES:
        return MODALITY_ALIASES[head[0]]
    return None


@dataclass(frozen=True)
class Signal:
    """One modality of a recording.

    Parameters
    ----------
    data
        Samples, shape ``(n_samples, n_channels)``, float64, in the modality's unit.
    fs
        Nominal sampling rate in Hz.
    start_time
        Time of the first sample in seconds (Unix time for real recordings).
    channels
        One name per column of ``data``.
    timestamps
        Optional per-sample times in seconds, shape ``(n_samples,)``; when None the samples are
        regular: ``start_time + i / fs``.
    unit
        Physical unit of the samples.
    """

    data: np.ndarray
    fs: float
    start_time: float
    channels: tuple[str, ...]
    timestamps: np.ndarray | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        data = np.asarray(self.data, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise ValueError(f"signal data must be (n_samples, n_channels); got shape {data.shape}")
        object.__setattr__(self, "data", data)
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise ValueError(f"sampling rate must be a positive number of Hz; got {self.fs!r}")
        if len(self.channels) != data.shape[1]:
            raise ValueError(
                f"{len(self.channels)} channel names for {data.shape[1]} data columns; "
                "give one name per column"
            )
        if self.timestamps is not None:
            ts = np.asarray(self.timestamps, dtype=np.float64)
            if ts.shape != (data.shape[0],):
                raise ValueError(
                    f"timestamps have shape {ts.shape}; expected ({data.shape[0]},), one per sample"
                )
            if ts.size > 1 and np.any(np.diff(ts) <= 0):
                i = int(np.argmax(np.diff(ts) <= 0))
                raise ValueError(
                    f"timestamps must increase strictly; sample {i + 1} is at {ts[i + 1]!r} s "
                    f"after {ts[i]!r} s. Sort the samples or drop duplicates."
                )
            object.__setattr__(self, "timestamps", ts)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.data.shape[1])

    def times(self) -> np.ndarray:
        """Time of every sample in seconds, shape ``(n_samples,)``."""
        if self.timestamps is not None:
            return self.timestamps
        return self.start_time + np.arange(self.n_samples) / self.fs

    @property
    def end_time(self) -> float:
        """Time just after the last sample, in seconds."""
        if self.n_samples == 0:
            return self.start_time
        if self.timestamps is not None:
            return float(self.timestamps[-1] + 1.0 / self.fs)
        return self.start_time + self.n_samples / self.fs

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.end_time - self.start_time

    def slice_time(self, t0: float, t1: float) -> Signal:
        """The samples with ``t0 <= t < t1`` (seconds), as a new Signal."""
        t = self.times()
        i0, i1 = np.searchsorted(t, [t0, t1], side="left")
        ts = None if self.timestamps is None else self.timestamps[i0:i1]
        start = float(t[i0]) if i0 < t.size else float(t0)
        return Signal(self.data[i0:i1], self.fs, start, self.channels, ts, self.unit)


@dataclass(frozen=True)
class LabelInterval:
    """A label that holds from ``start`` (inclusive) to ``end`` (exclusive), in seconds."""

    label: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(
                f"label interval {self.label!r} ends at {self.end} s, not after its start "
                f"{self.start} s"
            )

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


@dataclass
class Recording:
    """One session of one person: several modalities, labels and identifiers.

    Parameters
    ----------
    signals
        Modality name (canonical, e.g. ``"bvp"``) to :class:`Signal`.
    subject
        Subject (person) id, or None when the source has none: then evaluation can only split
        by recording, which overstates how well a model does on new people.
    session
        Session id, unique within the subject.
    labels
        Label intervals, sorted by start time, non-overlapping.
    source
        Where it was read from (a path), for messages.
    meta
        Anything else the reader knows (device, notes).
    """

    signals: dict[str, Signal]
    subject: str | None = None
    session: str = "0"
    labels: list[LabelInterval] = field(default_factory=list)
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = sorted(self.labels, key=lambda iv: iv.start)
        for a, b in zip(self.labels, self.labels[1:], strict=False):
            if b.start < a.end:
                raise ValueError(
                    f"{self.source or 'recording'}: label {a.label!r} [{a.start}, {a.end}) "
                    f"overlaps {b.label!r} [{b.start}, {b.end}); labels must not overlap"
                )

    @property
    def modalities(self) -> list[str]:
        """Modality names in the order they were added."""
        return list(self.signals)

    @property
    def start_time(self) -> float:
        """Earliest start over all signals, seconds."""
        return min(s.start_time for s in self.signals.values())

    @property
    def end_time(self) -> float:
        """Latest end over all signals, seconds."""
        return max(s.end_time for s in self.signals.values())

    @property
    def duration(self) -> float:
        """Seconds from the earliest start to the latest end."""
        return self.end_time - self.start_time

    @property
    def name(self) -> str:
        """``subject/session``, or one of them when the other is missing or the same."""
        if self.subject is None or self.subject == self.session:
            return self.session
        return f"{self.subject}/{self.session}"

    def label_seconds(self) -> dict[str, float]:
        """Seconds covered by each label, in order of first appearance."""
        out: dict[str, float] = {}
        for iv in self.labels:
            out[iv.label] = out.get(iv.label, 0.0) + iv.duration
        return out

    def label_covering(self, t0: float, t1: float) -> str | None:
        """The label of the single interval that covers ``[t0, t1)`` whole, else None."""
        iv = self.interval_covering(t0, t1)
        return None if iv is None else iv.label

    def interval_covering(self, t0: float, t1: float) -> LabelInterval | None:
        """The single label interval that covers ``[t0, t1)`` whole, else None."""
        starts = [iv.start for iv in self.labels]
        i = int(np.searchsorted(starts, t0, side="right")) - 1
        if i >= 0:
            iv = self.labels[i]
            if iv.start <= t0 and t1 <= iv.end:
                return iv
        return None

    def slice_time(self, t0: float, t1: float) -> Recording:
        """The part with ``t0 <= t < t1`` (seconds): signals cut, labels clipped."""
        labels = [
            LabelInterval(iv.label, max(iv.start, t0), min(iv.end, t1))
            for iv in self.labels
            if iv.end > t0 and iv.start < t1
        ]
        return Recording(
            {k: s.slice_time(t0, t1) for k, s in self.signals.items()},
            self.subject,
            self.session,
            labels,
            self.source,
            dict(self.meta),
        )

    def summary(self) -> dict[str, object]:
        """A JSON-ready description: ids, duration, modalities with rates, seconds per label."""
        return {
            "subject": self.subject,
            "session": self.session,
            "source": self.source,
            "start_time": self.start_time,
            "duration_s": round(self.duration, 3),
            "modalities": {
                k: {
                    "fs": s.fs,
                    "channels": list(s.channels),
                    "n_samples": s.n_samples,
                    "unit": s.unit,
                    "irregular": s.timestamps is not None,
                }
                for k, s in self.signals.items()
            },
            "label_seconds": {k: round(v, 3) for k, v in self.label_seconds().items()},
        }


def intervals_from_samples(
    times: np.ndarray,
    labels: Iterable[object],
    step: float,
    names: Mapping[Any, str] | None = None,
) -> list[LabelInterval]:
    """Merge per-sample labels into intervals.

    Parameters
    ----------
    times
        Sample times in seconds, shape ``(n,)``, increasing.
    labels
        One label per sample; empty strings and None mean unlabelled.
    step
        Seconds each sample covers (``1 / fs``). A jump in time larger than 1.5 steps ends an
        interval even when the label stays the same.
    names
        Optional mapping from raw label values to label names.
    """
    t = np.asarray(times, dtype=np.float64)
    labs = list(labels)
    out: list[LabelInterval] = []
    cur: object = None
    start = prev = 0.0
    for ti, li in zip(t, labs, strict=True):
        lab = None if li is None or li == "" else (names.get(li, str(li)) if names else str(li))
        if cur is not None and (lab != cur or ti - prev > 1.5 * step):
            out.append(LabelInterval(str(cur), start, prev + step))
            cur = None
        if lab is not None and cur is None:
            cur, start = lab, float(ti)
        prev = float(ti)
    if cur is not None:
        out.append(LabelInterval(str(cur), start, prev + step))
    return out
