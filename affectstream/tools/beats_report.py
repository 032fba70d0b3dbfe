"""``affectstream beats``: run the project's filter and beat detector on a record and score it."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from affectstream.data import Recording
from affectstream.data.wfdb_record import read_annotation_samples
from affectstream.dsp.beats import (
    beat_intervals,
    detect_pulse_peaks,
    detect_r_peaks,
    heart_rate_series,
    score_beats,
)
from affectstream.dsp.quality import implausible_ibi_fraction
from affectstream.tools.recording_args import add_recording_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``beats`` subcommand."""
    p = sub.add_parser(
        "beats",
        help="detect R-peaks (ECG) or pulse peaks (BVP) and score them",
        description="Run the ECG or BVP preset filter and beat detector over RECORD. With "
        "--reference, score detections against a WFDB annotation file (sensitivity and positive "
        "predictivity). For E4 data with HR.csv, compare the heart rate from detected pulses with "
        "the device's own.",
    )
    p.add_argument(
        "record", metavar="RECORD", help="WFDB record, E4 folder/dataset or any recording"
    )
    p.add_argument("--reference", metavar="EXT", help="WFDB annotation extension, e.g. atr")
    p.add_argument("--lead", metavar="NAME", help="ECG channel to use (default: the first)")
    p.add_argument(
        "--tolerance-ms",
        type=float,
        default=150.0,
        help="match window for scoring, milliseconds (default 150)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_recording_args(p)
    p.set_defaults(func=run)


def analyse(rec: Recording, args: argparse.Namespace) -> dict[str, Any]:
    """Beats, heart rate and (where a reference exists) detection scores of one recording."""
    out: dict[str, Any] = {"recording": rec.name}
    if "ecg" in rec.signals:
        sig = rec.signals["ecg"]
        lead = args.lead or sig.channels[0]
        if lead not in sig.channels:
            raise ValueError(f"{rec.source}: no ECG lead {lead!r}; leads are {list(sig.channels)}")
        peaks = detect_r_peaks(sig.data[:, sig.channels.index(lead)], sig.fs)
        out.update({"modality": "ecg", "channel": lead})
        if args.reference:
            ref, _ = read_annotation_samples(rec.source, args.reference)
            tol = int(round(args.tolerance_ms / 1000.0 * sig.fs))
            out["reference"] = f"{rec.source}.{args.reference}"
            out["tolerance_ms"] = args.tolerance_ms
            out["score"] = score_beats(peaks, ref, tol).as_dict()
    elif "bvp" in rec.signals:
        sig = rec.signals["bvp"]
        peaks = detect_pulse_peaks(sig.data[:, 0], sig.fs)
        out.update({"modality": "bvp", "channel": sig.channels[0]})
        if "hr" in rec.signals:
            hr = rec.signals["hr"]
            ours = heart_rate_series(peaks, sig.fs, hr.times() - sig.start_time)
            ok = np.isfinite(ours) & np.isfinite(hr.data[:, 0])
            diff = np.abs(ours[ok] - hr.data[ok, 0])
            out["device_hr"] = {
                "n_compared": int(ok.sum()),
                "median_abs_diff_bpm": float(np.median(diff)) if diff.size else None,
                "abs_diffs": diff,
            }
    else:
        raise ValueError(
            f"{rec.source}: no ECG or BVP signal to find beats in (it has {', '.join(rec.signals)})"
        )
    _, ibi = beat_intervals(peaks, sig.fs)
    out.update(
        {
            "fs": sig.fs,
            "n_beats": int(peaks.size),
            "duration_s": sig.duration,
            "mean_hr_bpm": float(60.0 / np.median(ibi)) if ibi.size else None,
            "implausible_ibi_fraction": implausible_ibi_fraction(ibi),
        }
    )
    return out


def run(args: argparse.Namespace) -> int:
    """Analyse every recording at ``args.record`` and print the results."""
    recs = load_from_args(args.record, args)
    results = [analyse(r, args) for r in recs]
    pooled = [r["device_hr"].pop("abs_diffs") for r in results if "device_hr" in r]
    doc: dict[str, Any] = {"record": args.record, "results": results}
    if pooled:
        allv = np.concatenate(pooled)
        doc["device_hr_median_abs_diff_bpm"] = float(np.median(allv)) if allv.size else None
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for r in results:
        line = (
            f"{r['recording']}: {r['modality']} {r['channel']} {r['fs']:g} Hz, "
            f"{r['n_beats']} beats in {r['duration_s']:.0f} s"
        )
        if r["mean_hr_bpm"]:
            line += f", median HR {r['mean_hr_bpm']:.1f} bpm"
        line += f", implausible intervals {100 * r['implausible_ibi_fraction']:.1f}%"
        print(line)
        if "score" in r:
            s = r["score"]
            print(
                f"  vs {r['reference']} ({s['n_reference']} beats, +/-{r['tolerance_ms']:g} ms): "
                f"sensitivity {100 * s['sensitivity']:.2f}%, positive predictivity "
                f"{100 * s['positive_predictivity']:.2f}% (TP {s['true_positives']}, "
                f"FP {s['false_positives']}, FN {s['false_negatives']})"
            )
        if "device_hr" in r and r["device_hr"]["median_abs_diff_bpm"] is not None:
            d = r["device_hr"]
            print(
                f"  vs device HR.csv: median |difference| {d['median_abs_diff_bpm']:.2f} bpm "
                f"over {d['n_compared']} s"
            )
    if "device_hr_median_abs_diff_bpm" in doc and len(results) > 1:
        print(
            f"all recordings: median |HR - device HR| "
            f"{doc['device_hr_median_abs_diff_bpm']:.2f} bpm"
        )
    return 0
