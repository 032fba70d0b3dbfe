"""Reader for the long format: fixed-length records stacked one after another in one CSV.

This is the layout of the project's original data: for example 312 records of 18,000 samples
(60 s at 300 Hz) of ECG, GSR and TEMP, one row per sample, with a label column constant within a
record and optionally a subject column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.data.columns import (
    LABEL_COLUMNS,
    SUBJECT_COLUMNS,
    find_column,
    require_header,
    signal_columns,
)
from affectstream.data.errors import RecordingFormatError
from affectstream.data.recording import MODALITY_UNITS, LabelInterval, Recording, Signal
from affectstream.data.table import (
    check_nan_runs,
    check_rectangular,
    drop_blank_tail,
    read_rows,
    to_float_column,
)


def read_long_csv(
    path: str | Path,
    *,
    record_length: int,
    fs: float,
    label_column: str | None = None,
    subject_column: str | None = None,
    max_nan_s: float = 1.0,
) -> list[Recording]:
    """Read a long-format CSV into one :class:`Recording` per record.

    Parameters
    ----------
    path
        CSV with a header line.
    record_length
        Samples per record (e.g. 18000 for 60 s at 300 Hz).
    fs
        Sampling rate in Hz of every signal column.
    label_column, subject_column
        Column names; by default the first of ``label``/``emotion``/``class``/... and of
        ``subject``/``participant``/... found. Without a subject column the records carry no
        subject id and evaluation can only split by record.

    Each record starts at time 0 s and is labelled whole by its label.
    """
    if record_length <= 0:
        raise ValueError(f"record_length must be a positive number of samples; got {record_length}")
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs must be a positive rate in Hz; got {fs}")
    rows = drop_blank_tail(read_rows(path))
    if not rows:
        raise RecordingFormatError(path, "the file is empty")
    header = rows[0]
    require_header(path, header)
    body = rows[1:]
    check_rectangular(path, body, len(header), 2)
    il = find_column(header, LABEL_COLUMNS, label_column)
    isub = find_column(header, SUBJECT_COLUMNS, subject_column)
    if il == -1 or il is None:
        raise RecordingFormatError(
            path,
            f"no label column {label_column or '/'.join(LABEL_COLUMNS)!r} in {header}",
            row=1,
            hint="Name the label column with --label-column",
        )
    if isub == -1:
        raise RecordingFormatError(path, f"no subject column {subject_column!r} in {header}", row=1)
    skip = {il} | ({isub} if isub is not None else set())
    groups = signal_columns(path, header, skip)
    n = len(body)
    if n == 0 or n % record_length:
        raise RecordingFormatError(
            path,
            f"{n} data rows are not a whole number of {record_length}-sample records",
            row=n + 1,
            hint="Check --record-length (samples per record) or cut the incomplete last record",
        )
    cols = {
        j: to_float_column(path, [r[j] for r in body], column=header[j], first_line=2)
        for js in groups.values()
        for j in js
    }
    labels = [r[il] for r in body]
    subjects = [r[isub] for r in body] if isub is not None else None
    recs: list[Recording] = []
    for k in range(n // record_length):
        a, b = k * record_length, (k + 1) * record_length
        lab = labels[a]
        for i in range(a, b):
            if labels[i] != lab:
                raise RecordingFormatError(
                    path,
                    f"label changes from {lab!r} to {labels[i]!r} inside record {k} "
                    f"(rows {a + 2} to {b + 1})",
                    row=i + 2,
                    hint="Each record must carry one label; check --record-length",
                )
        if lab == "":
            raise RecordingFormatError(path, f"record {k} has no label", row=a + 2)
        subj = None
        if subjects is not None:
            subj = subjects[a]
            if any(s != subj for s in subjects[a:b]):
                bad = next(i for i in range(a, b) if subjects[i] != subj)
                raise RecordingFormatError(
                    path,
                    f"subject changes from {subj!r} to {subjects[bad]!r} inside record {k}",
                    row=bad + 2,
                )
        signals = {}
        for mod, js in groups.items():
            data = np.stack([cols[j][a:b] for j in js], axis=1)
            for c, j in enumerate(js):
                check_nan_runs(
                    path, data[:, c], fs, column=header[j], first_line=a + 2, max_nan_s=max_nan_s
                )
            signals[mod] = Signal(
                data, fs, 0.0, tuple(header[j] for j in js), None, MODALITY_UNITS.get(mod, "")
            )
        recs.append(
            Recording(
                signals,
                subject=subj,
                session=f"record{k:04d}",
                labels=[LabelInterval(lab, 0.0, record_length / fs)],
                source=f"{path}#record{k}",
                meta={"record_index": k},
            )
        )
    return recs
