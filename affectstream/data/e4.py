"""Readers for Empatica E4 exports: one subject's folder of CSVs, or a dataset of such folders.

E4 CSV format: line 1 is the start time (Unix seconds, UTC), line 2 the sampling rate in Hz
(repeated once per column for ACC), the samples follow one per line. ``IBI.csv`` is event-based:
line 1 is the start time and ``IBI``, each row the time of a beat (seconds since the start) and
the interval that ended there (seconds); it becomes the irregular ``ibi`` signal.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from affectstream.data.errors import RecordingFormatError
from affectstream.data.recording import (
    MODALITY_UNITS,
    LabelInterval,
    Recording,
    Signal,
    intervals_from_samples,
)
from affectstream.data.table import (
    check_nan_runs,
    check_rectangular,
    drop_blank_tail,
    read_rows,
    to_float_column,
)

#: E4 file name -> (modality, channel names, unit).
E4_FILES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "BVP.csv": ("bvp", ("bvp",), MODALITY_UNITS["bvp"]),
    "EDA.csv": ("eda", ("eda",), MODALITY_UNITS["eda"]),
    "TEMP.csv": ("temp", ("temp",), MODALITY_UNITS["temp"]),
    "HR.csv": ("hr", ("hr",), "bpm"),
    "ACC.csv": ("acc", ("x", "y", "z"), MODALITY_UNITS["acc"]),
}

#: Files whose presence marks a folder as one E4 session.
E4_MARKERS = ("BVP.csv", "EDA.csv", "TEMP.csv")

#: Label names of the Stress-Predict processed labels file (``Label`` column 0/1).
STRESS_PREDICT_LABELS = {"0": "non-stress", "1": "stress", "0.0": "non-stress", "1.0": "stress"}


def is_e4_folder(path: Path) -> bool:
    """True when ``path`` is a folder with the E4 BVP, EDA and TEMP CSVs."""
    return path.is_dir() and all((path / f).is_file() for f in E4_MARKERS)


def _read_e4_fast(path: str | Path) -> tuple[float, float, np.ndarray] | None:
    """numpy's C parser for well-formed files; None sends the caller to the careful path."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        if len(lines) < 2 or not all(line.strip() for line in lines):
            return None  # blank lines are missing samples: the careful path keeps them
        start = [float(c) for c in lines[0].split(",")]
        rate = [float(c) for c in lines[1].split(",")]
        with warnings.catch_warnings():  # an export with no samples is handled below
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(lines[2:], delimiter=",", ndmin=2, dtype=np.float64)
    except (ValueError, OSError, UnicodeDecodeError):
        return None
    if not (
        len(start) == len(rate)
        and np.all(np.isfinite(start))
        and rate[0] > 0
        and np.isfinite(rate[0])
        and (data.size == 0 or data.shape[1] == len(rate))
    ):
        return None
    if data.size == 0:
        data = np.zeros((0, len(rate)))
    return float(start[0]), float(rate[0]), data


def read_e4_csv(path: str | Path, *, max_nan_s: float = 1.0) -> tuple[float, float, np.ndarray]:
    """Read one E4 CSV.

    Returns
    -------
    start_time, fs, data
        Start in Unix seconds, rate in Hz and samples of shape ``(n_samples, n_columns)``.
    """
    fast = _read_e4_fast(path)
    if fast is not None:
        _start, rate, data = fast
        for j in range(data.shape[1]):
            check_nan_runs(
                path, data[:, j], rate, column=f"column {j + 1}", first_line=3, max_nan_s=max_nan_s
            )
        return fast
    rows = [r if r else [""] for r in drop_blank_tail(read_rows(path))]
    if len(rows) < 2:
        raise RecordingFormatError(
            path, "an E4 CSV needs a start-time line and a sampling-rate line", row=len(rows) + 1
        )
    width = len(rows[0])
    check_rectangular(path, rows, width, 1)
    start_row = to_float_column(path, rows[0], column="start time", first_line=1)
    rate_row = to_float_column(path, rows[1], column="sampling rate", first_line=2)
    if not np.all(np.isfinite(start_row)):
        raise RecordingFormatError(
            path,
            "start time is missing",
            row=1,
            hint="Line 1 must hold the Unix start time in seconds",
        )
    if not np.all(np.isfinite(rate_row)) or np.any(rate_row <= 0):
        raise RecordingFormatError(
            path,
            f"sampling rate {rows[1]} is not a positive number of Hz",
            row=2,
            hint="Line 2 must hold the sampling rate in Hz",
        )
    body = rows[2:]
    cols = [
        to_float_column(path, [r[j] for r in body], column=f"column {j + 1}", first_line=3)
        for j in range(width)
    ]
    data = np.stack(cols, axis=1) if body else np.zeros((0, width))
    for j in range(width):
        check_nan_runs(
            path,
            data[:, j],
            float(rate_row[0]),
            column=f"column {j + 1}",
            first_line=3,
            max_nan_s=max_nan_s,
        )
    return float(start_row[0]), float(rate_row[0]), data


#: Nominal rate given to the irregular ``ibi`` signal (Hz): about one beat a second.
IBI_NOMINAL_FS = 1.0


def read_e4_ibi(path: str | Path) -> Signal | None:
    """Read an E4 ``IBI.csv`` as the irregular ``ibi`` signal (seconds per beat, per-beat
    timestamps); None when it holds no beats."""
    rows = drop_blank_tail(read_rows(path))
    if not rows or len(rows[0]) < 1:
        raise RecordingFormatError(path, "an E4 IBI.csv needs a start-time line", row=1)
    start = to_float_column(path, rows[0][:1], column="start time", first_line=1)[0]
    if not np.isfinite(start):
        raise RecordingFormatError(
            path, "start time is missing", row=1, hint="Line 1 must hold the Unix start time"
        )
    body = rows[1:]
    if not body:
        return None
    check_rectangular(path, body, 2, 2)
    t = to_float_column(path, [r[0] for r in body], column="time", first_line=2)
    iv = to_float_column(path, [r[1] for r in body], column="IBI", first_line=2)
    bad = np.flatnonzero(~np.isfinite(t) | (np.diff(t, prepend=-np.inf) <= 0))
    if bad.size:
        raise RecordingFormatError(
            path,
            f"beat time {body[bad[0]][0]!r} is missing or not after the one before",
            row=int(bad[0]) + 2,
            hint="Beat times must increase; fix or remove the row",
        )
    return Signal(
        iv, IBI_NOMINAL_FS, float(start + t[0]), ("ibi",), start + t, MODALITY_UNITS["ibi"]
    )


def read_e4_folder(
    path: str | Path,
    *,
    subject: str | None = None,
    labels: list[LabelInterval] | None = None,
    max_nan_s: float = 1.0,
) -> Recording:
    """Read one E4 session folder (BVP, EDA, TEMP and, when present, HR, ACC and IBI).

    The subject id defaults to the folder name.
    """
    folder = Path(path)
    if not is_e4_folder(folder):
        missing = [f for f in E4_MARKERS if not (folder / f).is_file()]
        raise RecordingFormatError(
            folder,
            f"not an E4 folder: missing {', '.join(missing)}",
            hint="Point at a folder holding the E4 export's BVP.csv, EDA.csv and TEMP.csv",
        )
    signals: dict[str, Signal] = {}
    for fname, (modality, channels, unit) in E4_FILES.items():
        f = folder / fname
        if not f.is_file():
            continue
        start, fs, data = read_e4_csv(f, max_nan_s=max_nan_s)
        if data.shape[1] != len(channels):
            raise RecordingFormatError(
                f, f"{data.shape[1]} columns where an E4 {fname} has {len(channels)}"
            )
        signals[modality] = Signal(data, fs, start, channels, None, unit)
    ibi = read_e4_ibi(folder / "IBI.csv") if (folder / "IBI.csv").is_file() else None
    if ibi is not None:
        signals["ibi"] = ibi
    return Recording(
        signals,
        subject=subject or folder.name,
        session=folder.name,
        labels=list(labels or []),
        source=str(folder),
        meta={"device": "Empatica E4"},
    )


def _subject_number(name: str) -> int | None:
    m = re.search(r"(\d+)", name)
    return int(m.group(1)) if m else None


def find_label_file(root: Path) -> Path | None:
    """A per-second labels CSV in ``root`` or ``root/Processed_data``.

    Recognised by a header with a participant/subject column, a time column and a label column.
    """
    for folder in (root, root / "Processed_data", root.parent / "Processed_data"):
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.csv")):
            with open(f, encoding="utf-8-sig") as fh:
                head = fh.readline().lower()
            if ("participant" in head or "subject" in head) and "label" in head and "time" in head:
                return f
    return None


def read_label_file(path: Path) -> dict[int, list[LabelInterval]]:
    """Per-second labels (participant, time in Unix seconds, label) merged into intervals.

    Returns a mapping from participant number to its label intervals.
    """
    rows = drop_blank_tail(read_rows(path))
    header = [h.lower() for h in rows[0]]
    check_rectangular(path, rows[1:], len(header), 2)

    def col(*names: str) -> int:
        for i, h in enumerate(header):
            if any(h.startswith(n) for n in names):
                return i
        raise RecordingFormatError(path, f"no {names[0]!r} column in the header {rows[0]}", row=1)

    ip, it, il = col("participant", "subject"), col("time"), col("label")
    body = rows[1:]
    part = to_float_column(path, [r[ip] for r in body], column=rows[0][ip], first_line=2)
    times = to_float_column(path, [r[it] for r in body], column=rows[0][it], first_line=2)
    labs = [r[il] for r in body]
    names = STRESS_PREDICT_LABELS if "binary" in path.name.lower() else None
    out: dict[int, list[LabelInterval]] = {}
    for p in np.unique(part[np.isfinite(part)]):
        idx = np.flatnonzero(part == p)
        idx = idx[np.argsort(times[idx], kind="stable")]
        out[int(p)] = intervals_from_samples(times[idx], [labs[i] for i in idx], 1.0, names)
    return out


def find_e4_folders(root: Path) -> list[Path]:
    """Subject folders under ``root`` (or ``root/Raw_data``) that are E4 sessions, sorted."""
    for base in (root, root / "Raw_data"):
        if base.is_dir():
            found = sorted(p for p in base.iterdir() if is_e4_folder(p))
            if found:
                return found
    return []


def read_e4_dataset(
    root: str | Path, *, subjects: list[str] | None = None, max_nan_s: float = 1.0
) -> list[Recording]:
    """Read a dataset root of E4 subject folders, attaching per-second labels when present.

    Parameters
    ----------
    root
        A folder of subject folders, or one with ``Raw_data/`` (the Stress-Predict layout) and
        optionally ``Processed_data/`` holding a per-second labels CSV.
    subjects
        Only these subject folder names (all when None).
    """
    root = Path(root)
    folders = find_e4_folders(root)
    if not folders:
        raise RecordingFormatError(
            root,
            "no E4 subject folders found",
            hint="Expected subject folders with BVP.csv, EDA.csv, TEMP.csv in it or in Raw_data/",
        )
    label_file = find_label_file(root)
    by_subject = read_label_file(label_file) if label_file else {}
    recs = []
    for f in folders:
        if subjects is not None and f.name not in subjects:
            continue
        num = _subject_number(f.name)
        labels = by_subject.get(num, []) if num is not None else []
        rec = read_e4_folder(f, labels=labels, max_nan_s=max_nan_s)
        if label_file:
            rec.meta["labels_from"] = str(label_file)
        recs.append(rec)
    return recs
