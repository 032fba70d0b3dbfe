"""Reader for a generic CSV with a time column: one row per sample, all signals on one clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.data.columns import (
    LABEL_COLUMNS,
    SUBJECT_COLUMNS,
    TIME_COLUMNS,
    find_column,
    require_header,
    signal_columns,
)
from affectstream.data.errors import RecordingFormatError
from affectstream.data.recording import MODALITY_UNITS, Recording, Signal, intervals_from_samples
from affectstream.data.table import (
    check_nan_runs,
    check_rectangular,
    drop_blank_tail,
    read_rows,
    to_float_column,
)

#: Timestamps whose intervals all lie within this fraction of the median are treated as regular.
REGULAR_TOLERANCE = 0.01

#: A signal column with values in fewer than this fraction of the rows is a slower signal in a
#: faster table (a 1 Hz heart rate beside 4 Hz EDA, beat intervals at the beats): its rows
#: with values are its samples, at their own rate.
SPARSE_FRACTION = 0.5


def _sparse_signal(mod: str, data: np.ndarray, t: np.ndarray, channels: list[str]) -> Signal:
    """The rows of a sparse column group as a signal at its own rate (regular within 1 %, else
    with per-sample timestamps)."""
    dt = np.diff(t)
    period = float(np.median(dt))
    regular = bool(np.all(np.abs(dt - period) <= REGULAR_TOLERANCE * period))
    return Signal(
        data,
        1.0 / period,
        float(t[0]),
        tuple(channels),
        None if regular else t,
        MODALITY_UNITS.get(mod, ""),
    )


def has_time_column(header: list[str]) -> bool:
    """True when one of the header's columns is a known time column."""
    return find_column(header, TIME_COLUMNS, None) is not None


def read_time_csv(
    path: str | Path,
    *,
    time_column: str | None = None,
    label_column: str | None = None,
    subject_column: str | None = None,
    subject: str | None = None,
    max_nan_s: float = 1.0,
) -> Recording:
    """Read a CSV whose rows are samples with a time column in seconds.

    The sampling rate is the inverse of the median interval. Timestamps that are regular within
    1 % become a start time and a rate; irregular ones are kept per sample. A signal with values
    in fewer than half the rows (a 1 Hz ``hr`` beside 4 Hz ``eda``; ``ibi`` on the beats' rows)
    takes those rows as its samples at their own rate. A label column, when present, is merged
    into label intervals; a subject column gives the subject (else ``subject``, else none).
    """
    rows = drop_blank_tail(read_rows(path))
    if len(rows) < 3:
        raise RecordingFormatError(path, "needs a header line and at least two samples")
    header = rows[0]
    require_header(path, header)
    body = rows[1:]
    check_rectangular(path, body, len(header), 2)
    it = find_column(header, TIME_COLUMNS, time_column)
    if it is None or it == -1:
        raise RecordingFormatError(
            path,
            f"no time column in {header}",
            row=1,
            hint="Name it time (seconds) or pass time_column",
        )
    il = find_column(header, LABEL_COLUMNS, label_column)
    if il == -1:
        raise RecordingFormatError(path, f"no label column {label_column!r} in {header}", row=1)
    isub = find_column(header, SUBJECT_COLUMNS, subject_column)
    if isub == -1:
        raise RecordingFormatError(path, f"no subject column {subject_column!r} in {header}", row=1)
    skip = {it} | ({il} if il is not None else set()) | ({isub} if isub is not None else set())
    groups = signal_columns(path, header, skip)
    t = to_float_column(path, [r[it] for r in body], column=header[it], first_line=2)
    if not np.all(np.isfinite(t)):
        i = int(np.argmax(~np.isfinite(t)))
        raise RecordingFormatError(path, "time is missing", row=i + 2)
    dt = np.diff(t)
    if np.any(dt <= 0):
        i = int(np.argmax(dt <= 0))
        raise RecordingFormatError(
            path,
            f"time goes from {t[i]!r} to {t[i + 1]!r}; it must increase",
            row=i + 3,
            hint="Sort the rows by time and drop duplicates",
        )
    period = float(np.median(dt))
    fs = 1.0 / period
    regular = bool(np.all(np.abs(dt - period) <= REGULAR_TOLERANCE * period))
    signals = {}
    for mod, js in groups.items():
        cols = [
            to_float_column(path, [r[j] for r in body], column=header[j], first_line=2) for j in js
        ]
        data = np.stack(cols, axis=1)
        present = np.isfinite(data).all(axis=1)
        if present.sum() >= 2 and present.mean() < SPARSE_FRACTION:
            # a slower signal in a faster table (a 1 Hz heart rate beside 4 Hz EDA): its own rate
            signals[mod] = _sparse_signal(mod, data[present], t[present], [header[j] for j in js])
            continue
        for j, x in zip(js, cols, strict=True):
            check_nan_runs(path, x, fs, column=header[j], first_line=2, max_nan_s=max_nan_s)
        signals[mod] = Signal(
            data,
            fs,
            float(t[0]),
            tuple(header[j] for j in js),
            None if regular else t,
            MODALITY_UNITS.get(mod, ""),
        )
    labels = intervals_from_samples(t, [r[il] for r in body], period) if il is not None else []
    subj = subject
    if subj is None and isub is not None:
        ids = list(dict.fromkeys(r[isub] for r in body))
        if len(ids) > 1:
            raise RecordingFormatError(
                path,
                f"column {header[isub]!r} holds {len(ids)} subjects ({', '.join(ids[:4])}, ...)",
                hint="A CSV with a time column is one person's session: write one file per "
                "person into a folder and read the folder",
            )
        subj = ids[0] or None
    return Recording(
        signals, subject=subj, session=Path(path).stem, labels=labels, source=str(path)
    )
