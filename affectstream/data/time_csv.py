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


def has_time_column(header: list[str]) -> bool:
    """True when one of the header's columns is a known time column."""
    return find_column(header, TIME_COLUMNS, None) is not None


def read_time_csv(
    path: str | Path,
    *,
    time_column: str | None = None,
    label_column: str | None = None,
    subject: str | None = None,
    max_nan_s: float = 1.0,
) -> Recording:
    """Read a CSV whose rows are samples with a time column in seconds.

    The sampling rate is the inverse of the median interval. Timestamps that are regular within
    1 % become a start time and a rate; irregular ones are kept per sample. A label column, when
    present, is merged into label intervals.
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
    isub = find_column(header, SUBJECT_COLUMNS, None)
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
        cols = []
        for j in js:
            x = to_float_column(path, [r[j] for r in body], column=header[j], first_line=2)
            check_nan_runs(path, x, fs, column=header[j], first_line=2, max_nan_s=max_nan_s)
            cols.append(x)
        signals[mod] = Signal(
            np.stack(cols, axis=1),
            fs,
            float(t[0]),
            tuple(header[j] for j in js),
            None if regular else t,
            MODALITY_UNITS.get(mod, ""),
        )
    labels = intervals_from_samples(t, [r[il] for r in body], period) if il is not None else []
    subj = subject or (body[0][isub] if isub is not None else None)
    return Recording(
        signals, subject=subj, session=Path(path).stem, labels=labels, source=str(path)
    )
