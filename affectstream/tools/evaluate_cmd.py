"""``affectstream evaluate``: a bundle over recordings, through the live monitor's path."""

from __future__ import annotations

import argparse
import json

from affectstream.model.offline import evaluate_predictions, predict_recording
from affectstream.model.predictor import Predictor
from affectstream.tools.recording_args import add_recording_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate",
        help="score a model bundle on labelled recordings",
        description="Run MODEL over the recordings in DATA through the same DSP, windowing and "
        "calibration as the live monitor; print balanced accuracy, macro-F1, the confusion "
        "matrix and per-subject figures.",
    )
    p.add_argument("model", metavar="MODEL", help="bundle path or `default`")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--hop", type=float, help="seconds between windows (default: the bundle's)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_recording_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print."""
    pred = Predictor(args.model)
    recs = [r for r in load_from_args(args.data, args) if r.labels]
    if not recs:
        raise ValueError(f"{args.data}: no labelled recording to evaluate on")
    res = evaluate_predictions([predict_recording(pred, r, args.hop) for r in recs], pred.classes)
    trained = set(pred.metadata.get("training", {}).get("subjects", []))
    seen = sorted(trained & set(res["per_subject"]))
    res["model"] = pred.model_id
    res["classes"] = pred.classes
    res["subjects_seen_in_training"] = seen
    if seen:
        res["note"] = (
            f"{len(seen)} of {len(res['per_subject'])} subjects were in this model's "
            "training data: figures on them are optimistic; cross-validated figures "
            "are in the training report"
        )
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"{pred.model_id} on {args.data}: {res['n_windows']} windows ({res['abstained']} abstained)"
    )
    print(
        f"balanced accuracy {res['balanced_accuracy']:.3f} (chance {1 / len(pred.classes):.3f}), "
        f"macro-F1 {res['macro_f1']:.3f}"
    )
    width = max(len(c) for c in pred.classes) + 2
    print("confusion (rows true, columns predicted):")
    print(" " * width + "".join(f"{c[:10]:>11}" for c in pred.classes))
    for c, row in zip(pred.classes, res["confusion"], strict=True):
        print(f"{c:<{width}}" + "".join(f"{v:>11d}" for v in row))
    print(
        "per subject: "
        + ", ".join(f"{s} {v['balanced_accuracy']:.2f}" for s, v in res["per_subject"].items())
    )
    if seen:
        print(f"NOTE: {res['note']}")
    return 0
