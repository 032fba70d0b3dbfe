"""``affectstream inspect``: what a model bundle holds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from affectstream.model.predictor import Predictor


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` subcommand."""
    p = sub.add_parser(
        "inspect",
        help="show a model bundle's metadata, operators, tensors and training summary",
        description="Validate MODEL (a bundle path or `default`) and show its metadata, file "
        "size, operators, tensor types and quantization, and the training summary.",
    )
    p.add_argument("model", metavar="MODEL", nargs="?", default="default")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the description."""
    pred = Predictor(args.model)
    meta = pred.metadata
    doc: dict[str, Any] = {
        "path": pred.bundle.path,
        "file_bytes": pred.bundle.size_bytes,
        "model_bytes": len(pred.bundle.model_bytes),
        "metadata": meta,
        "tflite": pred.describe(),
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    t = doc["tflite"]
    print(
        f"{doc['path']}: {meta['model_id']} ({doc['file_bytes'] / 1024:.1f} KB bundle, "
        f"{doc['model_bytes'] / 1024:.1f} KB TFLite, schema {meta['schema_version']})"
    )
    print(f"  classes: {', '.join(meta['classes'])}")
    print(
        f"  channels: {', '.join(meta['channels'])} at {meta['model_rate']:g} Hz; window "
        f"{meta['window_s']:g} s ({meta['window_frames']} frames), default hop "
        f"{meta['default_hop_s']:g} s"
    )
    mods = ", ".join(f"{m['name']} {m['fs']:g} Hz" for m in meta["preprocess"]["modalities"])
    print(f"  inputs: {mods}")
    if pred.input_kind == "features":
        print(
            f"  model input: {len(pred.feature_names)} window features "
            f"({', '.join(pred.feature_names)})"
        )
    else:
        print("  model input: the window's normalised frames")
    cal = meta["calibration"]
    print(
        f"  calibration: {cal['kind']}"
        + (f" (first {cal['baseline_s']:g} s of a session)" if cal["kind"] == "baseline" else "")
        + (
            f" (the person's statistics so far, after a {cal['min_s']:g} s warm-up)"
            if cal["kind"] == "running"
            else ""
        )
        + (
            f" (centred on the person's opening rest, windows ending {cal['settle_s']:g} to "
            f"{cal['min_s']:g} s into the session; spread so far)"
            if cal["kind"] == "anchored"
            else ""
        )
        + ("; output centred on the person's mean so far" if cal.get("centre_output") else "")
    )
    out = cal.get("output")
    if out:
        target = out.get("target_false_alarm_rate")
        print(
            f"  operating point: log offset {out['log_offset']:.3f} on {out['class']!r}"
            + (f" (chosen in training for {target:.0%} calm false alarms)" if target else "")
        )
    for name in ("input", "output"):
        d = t[name]
        print(
            f"  {name}: {d['dtype']} {d['shape']} scale {d['scale']:.6g} zero point "
            f"{d['zero_point']}"
        )
    print(f"  operators: {', '.join(t['operators'])} (runtime {t['runtime']})")
    tr = meta.get("training", {})
    if tr.get("subjects"):
        print(f"  trained on {len(tr['subjects'])} subjects: {', '.join(tr['subjects'])}")
    rep = tr.get("report", {})
    head = rep.get("nested")
    if head:
        lo, hi = head["subject_ci95"]
        print(
            f"  headline (nested, {head['n_subjects']} people, at the operating point): balanced "
            f"accuracy {head['balanced_accuracy']:.3f} [{lo:.3f}, {hi:.3f}] (chance "
            f"{head['chance_level']:.3f}, p = {head['p_value']:.3g}); calm-day false alarms "
            f"{head['calm_day_false_alarm_rate']:.3f}; stress-heavy sensitivity "
            f"{head['stress_heavy_sensitivity']:.3f}"
        )
    for m, r in rep.get("cv", {}).items():
        print(
            f"  comparison table, {m}: balanced accuracy {r['balanced_accuracy']:.3f}, "
            f"macro-F1 {r['macro_f1']:.3f}"
        )
    q = meta.get("quantization", {}).get("check")
    if q:
        print(
            f"  int8 vs float: {100 * q['argmax_agreement']:.2f}% argmax agreement on "
            f"{q['n_windows']} windows"
        )
    print(f"  sha256 {meta['sha256']}")
    return 0
