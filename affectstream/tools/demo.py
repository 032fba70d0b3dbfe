"""``affectstream demo``: the bundled excerpt replayed through the live monitor and the bundled
int8 model, with each prediction shown against the true label and a final accuracy line.

No broker or sensor is needed: the replay feeds the monitor in-process, chunk by chunk, as a
device would.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import Any

from affectstream.data.demo_recording import load_excerpt
from affectstream.stream.monitor import Monitor
from affectstream.stream.replay import replay_chunks


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo",
        help="replay the bundled recording through the bundled model, live",
        description="Replay the bundled E4 excerpt (Stress-Predict S13, held out of the default "
        "model's training) through the live monitor and the bundled int8 model, print every "
        "prediction against the true label and a final accuracy line.",
    )
    p.add_argument("--model", default="default", help="model bundle (default: the bundled one)")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="replay speed as a multiple of real time (0: as fast as possible; the default, or "
        "10 with --dashboard)",
    )
    p.add_argument("--hop", type=float, help="seconds between predictions (default: the model's)")
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="show the replay in the live dashboard (http://127.0.0.1:PORT/) instead of text; "
        "the page stays up after the replay until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=8080, help="the dashboard's port (8080)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay and print (or serve the dashboard)."""
    if args.dashboard:
        from affectstream.tools.dashboard_demo import run_demo_dashboard

        return run_demo_dashboard(args, load_excerpt())
    if args.speed is None:
        args.speed = 0.0
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    rec = load_excerpt()
    mon = Monitor(args.model, hop_s=args.hop)
    meta = mon.predictor.metadata
    cal = meta["calibration"]
    print(
        f"affectstream demo: {rec.meta.get('excerpt_of', rec.source)} through "
        f"{mon.predictor.model_id} ({', '.join(mon.predictor.classes)}); window "
        f"{meta['window_s']:g} s, hop {args.hop or meta['default_hop_s']:g} s"
        + (
            f"; the first {cal['baseline_s']:g} s calibrate to this person"
            if cal["kind"] == "baseline"
            else ""
        )
    )
    print(
        f"{'t (s)':>7}  {'true':<11}{'predicted':<11}{'p(' + mon.predictor.classes[-1] + ')':>10}"
        f"  quality  latency"
    )
    hits = total = abstained = 0
    wall0 = time.perf_counter()
    t_start = rec.start_time
    device = rec.subject or "demo"
    for ch in replay_chunks(rec, mon.modalities, chunk_s=1.0):
        if args.speed > 0:
            lag = ch.t_end / args.speed - (time.perf_counter() - wall0)
            if lag > 0:
                await asyncio.sleep(lag)
        for r in mon.push(device, ch.modality, ch.samples, start_time=ch.start_time):
            true = rec.label_covering(r["t"] - meta["window_s"], r["t"])
            shown = _row(r, true, t_start, mon.predictor.classes[-1])
            if r["label"] is None:
                abstained += 1
            elif true is not None:
                total += 1
                hits += r["label"] == true
            print(shown, flush=True)
    wall = time.perf_counter() - wall0
    acc = f"{hits}/{total} = {hits / total:.1%}" if total else "no labelled window"
    print(
        f"accuracy on windows with one true label: {acc}; {abstained} abstained; "
        f"{rec.duration:.0f} s replayed in {wall:.2f} s ({rec.duration / max(wall, 1e-9):.0f}x "
        "real time)"
    )
    return 0


def _row(r: Mapping[str, Any], true: str | None, t0: float, positive: str) -> str:
    t = r["t"] - t0
    if r["label"] is None:
        return (
            f"{t:>7.0f}  {true or '(mixed)':<11}{'-':<11}{'':>10}  {r['quality']:.2f}     "
            f"abstain: {r.get('reason')}"
        )
    mark = "" if true is None else ("  ok" if r["label"] == true else "  MISS")
    return (
        f"{t:>7.0f}  {true or '(mixed)':<11}{r['label']:<11}{r['probs'][positive]:>10.2f}  "
        f"{r['quality']:.2f}     {r['latency_ms']:.2f} ms{mark}"
    )
