"""A folder of recordings of one kind (one CSV, ``.npz``, WFDB, XDF or EDF file per person or
session) read as a data set.

Each file is read by its kind's reader. The subject of each recording is, in this order: the
one ``subject_pattern`` (a regular expression) finds in the file name (its first group, else
the whole match), the one the file holds (a CSV's subject column, an ``.npz``'s header), else
the file name without its suffix. The session is the file name without its suffix (an
``.npz`` keeps the session its header names).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from affectstream.data.edf import EDF_SUFFIXES, read_edf
from affectstream.data.errors import RecordingFormatError
from affectstream.data.native import load_npz
from affectstream.data.recording import Recording
from affectstream.data.time_csv import read_time_csv
from affectstream.data.wfdb_record import read_wfdb
from affectstream.data.xdf import read_xdf

#: Folder kinds and the file suffixes that make them (lower case).
FOLDER_KINDS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "npz": (".npz",),
    "wfdb": (".hea",),
    "xdf": (".xdf", ".xdfz"),
    "edf": EDF_SUFFIXES,
}

#: ``--format`` names that read a folder as a folder of that kind.
FORMAT_KINDS = {"time-csv": "csv", "npz": "npz", "wfdb": "wfdb", "xdf": "xdf", "edf": "edf"}


def _kind_of(f: Path) -> str | None:
    suffix = f.suffix.lower()
    return next((k for k, sfx in FOLDER_KINDS.items() if suffix in sfx), None)


def folder_files(path: Path, kind: str | None = None) -> tuple[str, list[Path]] | None:
    """The kind of recordings a folder holds and its files of that kind, sorted by name; None
    when it holds none.

    Raises
    ------
    RecordingFormatError
        When it holds recordings of several kinds and ``kind`` does not choose one.
    """
    files = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
    by_kind: dict[str, list[Path]] = {}
    for f in files:
        k = _kind_of(f)
        if k is not None:
            by_kind.setdefault(k, []).append(f)
    if kind is not None:
        found = by_kind.get(kind, [])
        return (kind, found) if found else None
    if not by_kind:
        return None
    if len(by_kind) > 1:
        listed = ", ".join(f"{len(v)} {k} ({v[0].name}, ...)" for k, v in by_kind.items())
        raise RecordingFormatError(
            path,
            f"the folder holds recordings of several kinds: {listed}",
            hint="Put each kind in its own folder, or choose one with --format "
            f"({', '.join(FORMAT_KINDS)})",
        )
    ((k, found),) = by_kind.items()
    return k, found


def _subject_from_name(f: Path, pattern: re.Pattern[str]) -> str:
    m = pattern.search(f.stem)
    if m is None:
        raise RecordingFormatError(
            f,
            f"the subject pattern '{pattern.pattern}' does not match the file name {f.stem!r}",
            hint="Give a --subject-pattern that matches every file name (e.g. 'S(\\d+)' for "
            "S01.csv), or rename the file",
        )
    return m.group(1) if m.groups() else m.group(0)


def _check_same_columns(files: list[Path]) -> None:
    first_header: list[str] | None = None
    for f in files:
        with open(f, encoding="utf-8-sig") as fh:
            header = [c.strip() for c in fh.readline().split(",")]
        if first_header is None:
            first_header = header
            continue
        if sorted(h.lower() for h in header) != sorted(h.lower() for h in first_header):
            extra = sorted(set(header) - set(first_header))
            missing = sorted(set(first_header) - set(header))
            raise RecordingFormatError(
                f,
                f"its columns {header} differ from {files[0].name}'s {first_header}"
                + (f" (it adds {extra}" if extra else " (")
                + (f"{', ' if extra else ''}lacks {missing})" if missing else ")"),
                row=1,
                hint="Every file of a data set folder needs the same columns: add the missing "
                "ones (empty cells are missing data) or move the file out of the folder",
            )


def read_folder(
    path: str | Path,
    *,
    kind: str | None = None,
    subject_pattern: str | None = None,
    label_column: str | None = None,
    subject_column: str | None = None,
    marker_map: Mapping[str, str] | None = None,
    max_nan_s: float = 1.0,
) -> list[Recording]:
    """Read every recording of one kind in a folder, in file-name order.

    Parameters
    ----------
    path
        The folder.
    kind
        One of :data:`FOLDER_KINDS`; detected from the files' suffixes when None.
    subject_pattern
        A regular expression applied to each file name (without suffix) for the subject id.
    label_column, subject_column
        For CSV files (see :func:`affectstream.data.time_csv.read_time_csv`).
    marker_map
        For XDF and EDF files (see :mod:`affectstream.data.markers`).

    Raises
    ------
    RecordingFormatError
        Naming the file: no recordings, several kinds, CSV files with different columns, a
        subject pattern that does not match, or the file's own reader's error.
    """
    folder = Path(path)
    found = folder_files(folder, kind)
    if found is None:
        raise RecordingFormatError(
            folder,
            f"no {kind + ' ' if kind else ''}recordings in the folder",
            hint="A data set folder holds one file per person or session: "
            + ", ".join(f"{k} ({'/'.join(s)})" for k, s in FOLDER_KINDS.items()),
        )
    kind, files = found
    pattern = None
    if subject_pattern:
        try:
            pattern = re.compile(subject_pattern)
        except re.error as exc:
            raise ValueError(
                f"--subject-pattern {subject_pattern!r} is not a regular expression ({exc})"
            ) from None
    readers: dict[str, Callable[[Path], Recording]] = {
        "csv": lambda f: read_time_csv(
            f, label_column=label_column, subject_column=subject_column, max_nan_s=max_nan_s
        ),
        "npz": load_npz,
        "wfdb": lambda f: read_wfdb(f.with_suffix("")),
        "xdf": lambda f: read_xdf(f, marker_map=marker_map),
        "edf": lambda f: read_edf(f, marker_map=marker_map),
    }
    if kind == "csv":
        _check_same_columns(files)
    recs = []
    for f in files:
        rec = readers[kind](f)
        subject = _subject_from_name(f, pattern) if pattern is not None else rec.subject
        session = rec.session if kind == "npz" else f.stem  # a recorder's session id stays
        rec = dataclasses.replace(rec, subject=subject or f.stem, session=session, source=str(f))
        rec.meta["folder"] = str(folder)
        recs.append(rec)
    return recs
