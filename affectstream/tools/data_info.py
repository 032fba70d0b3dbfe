"""``affectstream data info``: what a recording or dataset holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from affectstream.data import detect_format
from affectstream.tools.recording_args import add_recording_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data`` with its ``info`` subcommand."""
    p = sub.add_parser(
        "data",
        help="inspect recordings and datasets",
        description="Inspect recordings and datasets.",
    )
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    info = dsub.add_parser(
        "info",
        help="list subjects, durations, modalities and seconds per label",
        description="Detect the format of PATH (E4 folder or dataset, long CSV, time CSV, WFDB, "
        "npz, XDF, EDF/BDF, or a folder of one kind of them) and list every recording (each "
        "file of a folder) with its duration, modalities and seconds per label.",
    )
    info.add_argument("path", metavar="PATH")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_recording_args(info)
    info.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary of every recording at ``args.path``."""
    fmt = args.format or detect_format(args.path, record_length=args.record_length)
    recs = load_from_args(args.path, args)
    labels: dict[str, float] = {}
    for r in recs:
        for k, v in r.label_seconds().items():
            labels[k] = labels.get(k, 0.0) + v
    subjects = sorted({r.subject for r in recs if r.subject is not None})
    doc = {
        "path": args.path,
        "format": fmt,
        "n_recordings": len(recs),
        "n_subjects": len(subjects),
        "subjects": subjects,
        "total_duration_s": round(sum(r.duration for r in recs), 3),
        "label_seconds": {k: round(v, 3) for k, v in labels.items()},
        "recordings": [r.summary() for r in recs],
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{args.path}: {fmt}, {len(recs)} recording(s), {len(subjects)} subject(s)")
    if not subjects:
        print("  warning: no subject ids; evaluation can only split by recording")
    names = sorted(labels)
    head = f"{'recording':<16}{'duration':>10}  {'modalities':<36}" + "".join(
        f"{n[:12]:>13}" for n in names
    )
    print(head)
    for r in recs:
        mods = ", ".join(f"{k} {s.fs:g}Hz" for k, s in r.signals.items())
        secs = r.label_seconds()
        name = r.name if fmt != "folder" else f"{Path(r.source).name} ({r.subject})"
        print(
            f"{name[:16]:<16}{r.duration:>9.0f}s  {mods[:36]:<36}"
            + "".join(f"{secs.get(n, 0):>12.0f}s" for n in names)
        )
    total = "".join(f"{labels[n]:>12.0f}s" for n in names)
    print(f"{'total':<16}{doc['total_duration_s']:>9.0f}s  {'':<36}{total}")
    return 0
