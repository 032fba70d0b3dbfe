"""Reading delimited text tables into numeric columns, with errors that point at the bad cell."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from affectstream.data.errors import RecordingFormatError


def read_rows(path: str | Path, *, skip: int = 0) -> list[list[str]]:
    """All rows of a CSV file as lists of stripped strings, skipping the first ``skip`` lines.

    Raises
    ------
    RecordingFormatError
        When the file cannot be opened or decoded as text.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingFormatError(path, f"cannot read the file as CSV text ({exc})") from exc
    return [[c.strip() for c in r] for r in rows[skip:]]


def check_rectangular(path: str | Path, rows: list[list[str]], width: int, first_line: int) -> None:
    """Raise if any row has a number of cells other than ``width``.

    ``first_line`` is the file line number (1-based) of ``rows[0]``; blank trailing lines are
    allowed and should be dropped by the caller.
    """
    for i, r in enumerate(rows):
        if len(r) != width:
            raise RecordingFormatError(
                path,
                f"row has {len(r)} cells but the header has {width}",
                row=first_line + i,
                hint="Every row needs one value per column; fix or remove the ragged row",
            )


def drop_blank_tail(rows: list[list[str]]) -> list[list[str]]:
    """Rows without trailing blank lines."""
    n = len(rows)
    while n and not any(rows[n - 1]):
        n -= 1
    return rows[:n]


def to_float_column(
    path: str | Path, cells: list[str], *, column: str, first_line: int
) -> np.ndarray:
    """Convert one column of strings to float64; empty cells become NaN.

    Raises
    ------
    RecordingFormatError
        Naming the line and column of the first cell that is not a number.
    """
    try:
        return np.asarray(cells, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(cells), dtype=np.float64)
    for i, c in enumerate(cells):
        if c == "" or c.lower() in ("nan", "na"):
            out[i] = np.nan
            continue
        try:
            out[i] = float(c)
        except ValueError:
            raise RecordingFormatError(
                path,
                f"column {column!r} holds {c[:40]!r}, which is not a number",
                row=first_line + i,
                hint="Signal columns must be numeric; empty cells are read as missing",
            ) from None
    return out


def check_nan_runs(
    path: str | Path, x: np.ndarray, fs: float, *, column: str, first_line: int, max_nan_s: float
) -> None:
    """Raise when ``x`` (shape ``(n,)``) has a run of NaN longer than ``max_nan_s`` seconds.

    Shorter runs are allowed: the DSP treats them as missing samples.
    """
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    edges = np.diff(np.concatenate(([0], bad.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    lengths = ends - starts
    limit = max(1, int(round(max_nan_s * fs)))
    over = np.flatnonzero(lengths > limit)
    if over.size:
        k = over[0]
        raise RecordingFormatError(
            path,
            f"column {column!r} has {lengths[k]} missing or non-finite values in a row "
            f"({lengths[k] / fs:.2f} s, more than the {max_nan_s:g} s allowed)",
            row=first_line + int(starts[k]),
            hint="Cut the recording around the gap or raise max_nan_s",
        )
