"""Mapping table columns to modalities, labels and subjects."""

from __future__ import annotations

from pathlib import Path

from affectstream.data.errors import RecordingFormatError
from affectstream.data.recording import canonical_modality

LABEL_COLUMNS = ("label", "labels", "emotion", "class", "target", "y")
SUBJECT_COLUMNS = ("subject", "subject_id", "participant", "person", "user", "pid")
TIME_COLUMNS = ("time", "timestamp", "t", "time_s", "time(sec)", "seconds", "unix_time")


def find_column(header: list[str], candidates: tuple[str, ...], given: str | None) -> int | None:
    """Index of the column named ``given`` (required to exist) or of the first candidate name."""
    low = [h.strip().lower() for h in header]
    if given is not None:
        if given.lower() not in low:
            return -1
        return low.index(given.lower())
    for c in candidates:
        if c in low:
            return low.index(c)
    return None


def signal_columns(path: str | Path, header: list[str], skip: set[int]) -> dict[str, list[int]]:
    """Group the remaining columns by modality: ``{"ecg": [0], "eda": [1], ...}``.

    A column whose name is no known modality is an error: the reader cannot guess what it holds.
    """
    groups: dict[str, list[int]] = {}
    for j, h in enumerate(header):
        if j in skip:
            continue
        mod = canonical_modality(h)
        if mod is None:
            raise RecordingFormatError(
                path,
                f"column {h!r} is not a known modality",
                row=1,
                hint="Name signal columns ECG, EDA/GSR, TEMP, BVP/PPG, RESP (with optional "
                "suffixes like ECG_II), or drop the column",
            )
        groups.setdefault(mod, []).append(j)
    if not groups:
        raise RecordingFormatError(
            path,
            "no signal columns in the header",
            row=1,
            hint="Add a column named ECG, EDA/GSR, TEMP or BVP/PPG",
        )
    return groups


def require_header(path: str | Path, header: list[str]) -> None:
    """Raise when the first row looks like data rather than column names."""
    numeric = 0
    for h in header:
        try:
            float(h)
            numeric += 1
        except ValueError:
            pass
    if header and numeric == len(header):
        raise RecordingFormatError(
            path,
            "the first line holds numbers, not column names",
            row=1,
            hint="Add a header line naming the columns, e.g. ECG,GSR,TEMP,label",
        )
