"""Command-line options shared by every subcommand that reads recordings."""

from __future__ import annotations

import argparse

from affectstream.data import FORMATS, Recording, load_recordings


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
    g.add_argument("--subject-column", metavar="NAME", help="long CSV: name of the subject column")
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
    )
    excluded = set(args.exclude_subjects or [])
    return [r for r in recs if (r.subject or r.name) not in excluded]
