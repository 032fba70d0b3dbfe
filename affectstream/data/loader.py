"""Auto-detection of a recording's format, and one call that loads any of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from affectstream.data.e4 import find_e4_folders, is_e4_folder, read_e4_dataset, read_e4_folder
from affectstream.data.edf import EDF_SUFFIXES, read_edf
from affectstream.data.errors import RecordingFormatError
from affectstream.data.folder import FORMAT_KINDS, folder_files, read_folder
from affectstream.data.long_csv import read_long_csv
from affectstream.data.native import load_npz
from affectstream.data.recording import Recording
from affectstream.data.time_csv import has_time_column, read_time_csv
from affectstream.data.wfdb_record import is_wfdb_record, read_wfdb
from affectstream.data.xdf import read_xdf

FORMATS = ("e4-folder", "e4-dataset", "folder", "long-csv", "time-csv", "wfdb", "npz", "xdf", "edf")


def detect_format(path: str | Path, *, record_length: int | None = None) -> str:
    """Name the format of ``path``: one of :data:`FORMATS`.

    Raises
    ------
    RecordingFormatError
        When nothing matches, saying what each format looks like.
    """
    p = Path(path)
    if p.is_dir():
        if is_e4_folder(p):
            return "e4-folder"
        if find_e4_folders(p):
            return "e4-dataset"
        if folder_files(p) is not None:
            return "folder"
    elif p.suffix == ".npz" and p.is_file():
        return "npz"
    elif p.suffix.lower() in (".xdf", ".xdfz") and p.is_file():
        return "xdf"
    elif p.suffix.lower() in EDF_SUFFIXES and p.is_file():
        return "edf"
    elif p.suffix.lower() == ".csv" and p.is_file():
        if record_length is not None:
            return "long-csv"
        with open(p, encoding="utf-8-sig") as fh:
            first = fh.readline()
        if has_time_column([c.strip() for c in first.split(",")]):
            return "time-csv"
        raise RecordingFormatError(
            p,
            "a CSV without a time column",
            hint="For fixed-length records one after another give --record-length and --fs; "
            "otherwise add a time column in seconds",
        )
    if is_wfdb_record(p):
        return "wfdb"
    if not p.exists():
        raise RecordingFormatError(p, "no such file or folder")
    raise RecordingFormatError(
        p,
        "unknown recording format",
        hint="Expected an E4 folder (BVP.csv, EDA.csv, TEMP.csv), a folder of them, a CSV, "
        "a WFDB record (.hea), an XDF file, an EDF/BDF file, an affectstream .npz, or a "
        "folder of CSV, .npz, WFDB, XDF or EDF files (one per person or session)",
    )


def _subject_from(path: str | Path, pattern: str | None) -> str | None:
    if not pattern:
        return None
    m = re.search(pattern, Path(path).stem)
    if m is None:
        raise RecordingFormatError(
            path,
            f"the subject pattern '{pattern}' does not match the file name",
            hint="Give a --subject-pattern that matches the file name, e.g. 'S(\\d+)'",
        )
    return m.group(1) if m.groups() else m.group(0)


def load_recordings(
    path: str | Path,
    *,
    fmt: str | None = None,
    record_length: int | None = None,
    fs: float | None = None,
    label_column: str | None = None,
    subject_column: str | None = None,
    subjects: list[str] | None = None,
    subject_pattern: str | None = None,
    marker_map: Mapping[str, str] | None = None,
    max_nan_s: float = 1.0,
) -> list[Recording]:
    """Load every recording at ``path``, whatever its format.

    Parameters
    ----------
    path
        File or folder.
    fmt
        Force a format (one of :data:`FORMATS`) instead of detecting it.
    record_length, fs
        Samples per record and rate in Hz, for the long CSV format.
    subjects
        For datasets: only these subject ids.
    subject_pattern
        For a folder of files (or one XDF/EDF file): a regular expression that finds the
        subject id in each file name.
    marker_map
        For XDF and EDF: marker strings to labels (:mod:`affectstream.data.markers`).
    """
    fmt = fmt or detect_format(path, record_length=record_length)
    if fmt == "folder" or (fmt in FORMAT_KINDS and Path(path).is_dir()):
        recs = read_folder(
            path,
            kind=FORMAT_KINDS.get(fmt),
            subject_pattern=subject_pattern,
            label_column=label_column,
            subject_column=subject_column,
            marker_map=marker_map,
            max_nan_s=max_nan_s,
        )
        return [r for r in recs if subjects is None or r.subject in subjects]
    if fmt == "e4-folder":
        return [read_e4_folder(path, max_nan_s=max_nan_s)]
    if fmt == "e4-dataset":
        return read_e4_dataset(path, subjects=subjects, max_nan_s=max_nan_s)
    if fmt == "long-csv":
        if record_length is None or fs is None:
            raise RecordingFormatError(
                path,
                "the long CSV format needs the record length and the sampling rate",
                hint="Pass --record-length SAMPLES --fs HZ (e.g. --record-length 18000 --fs 300)",
            )
        recs = read_long_csv(
            path,
            record_length=record_length,
            fs=fs,
            label_column=label_column,
            subject_column=subject_column,
            max_nan_s=max_nan_s,
        )
        return [r for r in recs if subjects is None or r.subject in subjects]
    if fmt == "time-csv":
        return [
            read_time_csv(
                path,
                label_column=label_column,
                subject_column=subject_column,
                subject=_subject_from(path, subject_pattern),
                max_nan_s=max_nan_s,
            )
        ]
    if fmt == "xdf":
        return [read_xdf(path, marker_map=marker_map, subject=_subject_from(path, subject_pattern))]
    if fmt == "edf":
        return [read_edf(path, marker_map=marker_map, subject=_subject_from(path, subject_pattern))]
    if fmt == "wfdb":
        return [read_wfdb(path)]
    if fmt == "npz":
        return [load_npz(path)]
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
