"""Command-line options shared by every subcommand that reads recordings."""

from __future__ import annotations

import argparse

from affectstream.data import FORMATS, Recording, load_recordings
from affectstream.data.markers import parse_marker_map


def add_recording_args(p: argparse.ArgumentParser) -> None:
    """Add PATH-reading options: format, long-CSV layout, subjects."""
    g = p.add_argument_group("reading recordings")
    g.add_argument("--format", choices=FORMATS, help="skip detection and read as this format")
    g.add_argument(
        "--record-length",
        type=int,
        metavar="SAMPLES",
        help="long CSV: samples per record (e.g. 18000)",
    )
    g.add_argument("--fs", type=float, metavar="HZ", help="long CSV: sampling rate in Hz")
    g.add_argument("--label-column", metavar="NAME", help="name of the label column")
    g.add_argument("--subject-column", metavar="NAME", help="CSV: name of the subject column")
    g.add_argument(
        "--subject-pattern",
        metavar="REGEX",
        help="a folder of files: the subject id in each file name (its first group, else the "
        "match), e.g. 'S(\\d+)'",
    )
    g.add_argument(
        "--marker-map",
        nargs="+",
        metavar="MARKER=LABEL",
        help="XDF/EDF markers to labels: MARKER=LABEL:start, MARKER=LABEL:end, or MARKER=LABEL "
        "(a state until the next mapped marker); markers 'LABEL:start'/'LABEL:end' need none",
    )
    g.add_argument("--subjects", nargs="+", metavar="ID", help="only these subjects")
    g.add_argument("--exclude-subjects", nargs="+", metavar="ID", help="leave these subjects out")


def load_from_args(path: str, args: argparse.Namespace) -> list[Recording]:
    """Load recordings at ``path`` with the options of :func:`add_recording_args`."""
    recs = load_recordings(
        path,
        fmt=args.format,
        record_length=args.record_length,
        fs=args.fs,
        label_column=args.label_column,
        subject_column=args.subject_column,
        subjects=args.subjects,
        subject_pattern=args.subject_pattern,
        marker_map=parse_marker_map(args.marker_map) if args.marker_map else None,
    )
    excluded = set(args.exclude_subjects or [])
    return [r for r in recs if (r.subject or r.name) not in excluded]
