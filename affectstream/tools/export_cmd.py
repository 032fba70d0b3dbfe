"""``affectstream export``: a training folder into one int8 model bundle."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        help="convert a trained model into an int8 TFLite model bundle",
        description="Turn a model and the preprocessing config that `affectstream train` wrote "
        "into one bundle: a full-integer int8 TFLite model calibrated on real training windows, "
        "plus metadata. By default the saved model with the better cross-validated balanced "
        "accuracy is exported (the compact CNN on frames, or the logistic regression on "
        "running-calibrated window features, as one dense layer). A float TFLite is written "
        "beside it (MODEL.float.tflite) for comparison, and "
        "int8 is checked against float on the training data's windows.",
    )
    p.add_argument("train_dir", metavar="TRAIN_DIR")
    p.add_argument("--out", required=True, metavar="MODEL", help="bundle path (e.g. model.afb)")
    p.add_argument(
        "--model",
        choices=("best", "cnn", "logreg"),
        default="best",
        help="which saved model to export (default: best by cross-validation)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the int8-vs-float check")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and print sizes and the quantization check."""
    from affectstream.model.export import export_bundle

    s = export_bundle(
        args.train_dir,
        args.out,
        model=args.model,
        check=not args.no_check,
        progress=lambda m: print(m, file=sys.stderr),
    )
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(
        f"{s['model']} bundle {s['bundle']}: {s['bundle_bytes'] / 1024:.1f} KB (int8); "
        f"float TFLite {s['float_tflite']}: {s['float_bytes'] / 1024:.1f} KB"
    )
    if "check" in s:
        c = s["check"]
        print(
            f"int8 vs float on {c['n_windows']} windows: argmax agreement "
            f"{100 * c['argmax_agreement']:.2f}%, balanced accuracy float "
            f"{c['balanced_accuracy_float']:.3f} / int8 {c['balanced_accuracy_int8']:.3f}, "
            f"max |prob difference| {c['max_abs_prob_diff']:.4f}"
        )
    return 0
