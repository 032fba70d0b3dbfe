"""``affectstream simulate``: synthetic data in the original researcher's layout."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand."""
    p = sub.add_parser(
        "simulate",
        help="write synthetic ECG/GSR/TEMP records in the original data's layout",
        description="Write 312 one-minute records (26 people x 6 emotions x 2) of modelled ECG, "
        "GSR and TEMP at 300 Hz in the long CSV format with a subject column; people differ "
        "more than emotions do.",
    )
    p.add_argument("--layout", choices=["seed"], default="seed", help="data layout (seed)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--subjects", type=int, default=26, help="number of people (26)")
    p.add_argument(
        "--records-per-emotion", type=int, default=2, help="records per person and emotion (2)"
    )
    p.add_argument("--record-length", type=int, default=18000, help="samples per record (18000)")
    p.add_argument("--fs", type=float, default=300.0, help="sampling rate in Hz (300)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the files and say how to read them."""
    from affectstream.data.simulate import EMOTIONS, simulate_seed_layout

    path = simulate_seed_layout(
        args.out,
        n_subjects=args.subjects,
        records_per_emotion=args.records_per_emotion,
        record_length=args.record_length,
        fs=args.fs,
        seed=args.seed,
    )
    n = args.subjects * args.records_per_emotion * len(EMOTIONS)
    print(f"wrote {path}: {n} records x {args.record_length} samples at {args.fs:g} Hz")
    print(
        f"train with: affectstream train {path} --record-length {args.record_length} "
        f"--fs {args.fs:g} --out RESULTS"
    )
    return 0
