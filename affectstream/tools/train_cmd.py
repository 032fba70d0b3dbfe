"""``affectstream train``: subject-wise training and the honest report."""

from __future__ import annotations

import argparse
import sys

from affectstream.tools.recording_args import add_recording_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train and evaluate by subject; write report.md/json and the best CNN",
        description="Cut windows through the live DSP, evaluate by subject (GroupKFold or "
        "leave-one-subject-out) the majority class, logistic regression and boosted trees on "
        "hand-made features, the compact CNN and the original researcher's CNN on the same "
        "folds, and write DIR/report.md, DIR/report.json, figures and DIR/cnn.keras for export.",
    )
    p.add_argument("data", metavar="DATA", help="recording or dataset (any format data info reads)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--config", metavar="TOML", help="training settings (see README)")
    p.add_argument(
        "--reduced",
        action="store_true",
        help="a quick configuration (2 folds, few epochs) for smoke tests",
    )
    p.add_argument("--split", choices=["groupkfold", "loso"], help="override the split")
    p.add_argument(
        "--calibration",
        choices=["none", "baseline", "running", "rest", "subject"],
        help="override the calibration kind ('rest' takes the rest-like labels found, e.g. "
        "calmness or non-stress, unless the config names calibration.labels)",
    )
    p.add_argument("--max-subjects", type=int, help="use only the first N subjects")
    p.add_argument(
        "--false-alarm-rate",
        type=float,
        metavar="RATE",
        help="operating point of the exported model: the share of calm windows it may call "
        "something else (default 0.1)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--records-per-subject",
        type=int,
        metavar="N",
        help="no subject column, records laid out person by person: every N records in file "
        "order are one person",
    )
    p.add_argument(
        "--groups-file",
        metavar="FILE",
        help="no subject column: a file with each record's subject id, one line per record in "
        "file order (or record,subject pairs)",
    )
    add_recording_args(p)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """The TrainConfig from the TOML file, --reduced and the command-line overrides."""
    from affectstream.model.train_config import REDUCED, TrainConfig

    base = TrainConfig.from_toml(args.config).as_dict() if args.config else {}
    if args.reduced:
        for k, v in REDUCED.items():
            base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    if args.split:
        base["split"] = args.split
    if args.calibration:
        base["calibration"] = {**(base.get("calibration") or {}), "kind": args.calibration}
    if args.max_subjects:
        base["max_subjects"] = args.max_subjects
    if args.false_alarm_rate is not None:
        base["false_alarm_rate"] = args.false_alarm_rate
    data = dict(base.get("data") or {})
    for key in (
        "format",
        "record_length",
        "fs",
        "label_column",
        "subject_column",
        "subjects",
        "exclude_subjects",
        "records_per_subject",
        "groups_file",
        "subject_pattern",
        "marker_map",
    ):
        val = getattr(args, key)
        if key == "marker_map" and val is not None:
            from affectstream.data.markers import parse_marker_map

            val = parse_marker_map(val)
        if val is not None:
            data[key] = val
    base["data"] = data
    return TrainConfig.from_dict(base)


def run(args: argparse.Namespace) -> int:
    """Train, evaluate, report."""
    from affectstream.model.training import run_training

    cfg = build_config(args)
    report = run_training(
        args.data,
        args.out,
        cfg,
        progress=None if args.quiet else lambda m: print(m, file=sys.stderr, flush=True),
    )
    best = report["best_model"]
    r = report["models"][best]
    print(
        f"best model: {best}: balanced accuracy {r['balanced_accuracy']:.3f} "
        f"(chance {report['chance_level']:.3f}), macro-F1 {r['macro_f1']:.3f}, "
        f"p = {r['p_value']:.3g}; report in {args.out}/report.md"
    )
    if report.get("errors"):
        failed = ", ".join(e["stage"] for e in report["errors"])
        print(f"affectstream train: failed stage(s): {failed} (see the report)", file=sys.stderr)
        return 1
    return 0
