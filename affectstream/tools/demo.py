"""``affectstream demo``: the bundled excerpt replayed through the live DSP path.

Until the bundled model exists this shows the signal side honestly: every hop, the frames the
model would receive, with heart rate from detected pulses, EDA level and skin temperature
against the true label. No broker or sensor is needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

from affectstream.data import Recording, load_npz
from affectstream.dsp.beats import beat_intervals, detect_pulse_peaks
from affectstream.dsp.preprocessor import Preprocessor
from affectstream.dsp.presets import E4_CONFIG

EXCERPT = "stress_predict_S13.npz"


def excerpt_path() -> Path:
    """Path of the bundled demo recording inside the installed package."""
    return Path(str(resources.files("affectstream.data") / "excerpts" / EXCERPT))


def load_excerpt() -> Recording:
    """The bundled excerpt: Stress-Predict S13, first 1,320 s (BVP, EDA, TEMP, labels)."""
    return load_npz(excerpt_path())


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo",
        help="replay the bundled recording through the live path and print each hop",
        description="Replay the bundled E4 excerpt (Stress-Predict S13) through the streaming "
        "DSP as 1 s chunks and print, every hop, what the 60 s window holds against the true "
        "label. The model stage arrives with the bundled model.",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="replay speed as a multiple of real time (0: as fast as possible)",
    )
    p.add_argument("--hop", type=float, default=30.0, help="seconds between printed hops")
    p.add_argument("--window", type=float, default=60.0, help="window length in seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay the excerpt and print one line per hop."""
    rec = load_excerpt()
    pp = Preprocessor(E4_CONFIG)
    rate = pp.rate
    win = int(args.window * rate)
    buf = np.full((win, pp.n_channels), np.nan)
    filled = 0
    t0 = rec.start_time
    n_sec = int(rec.duration)
    next_hop = t0 + args.window
    wall0 = time.perf_counter()
    print(
        f"affectstream demo: {rec.meta.get('excerpt_of', rec.source)}; "
        f"DSP {', '.join(pp.channel_names)} at {rate:g} Hz, window {args.window:g} s, "
        f"hop {args.hop:g} s (model stage: not bundled yet)"
    )
    print(f"{'t (s)':>7}  {'true label':<11}{'HR bpm':>7}{'EDA uS':>8}{'TEMP C':>8}  quality")
    bvp = rec.signals["bvp"]
    for s in range(n_sec):
        chunks = {}
        for name in pp.modalities:
            sig = rec.signals[name]
            a, b = int(s * sig.fs), int((s + 1) * sig.fs)
            chunks[name] = sig.data[a:b]
        starts = {n: rec.signals[n].start_time for n in pp.modalities} if s == 0 else None
        frames = pp.push_many(chunks, start_times=starts)
        m = len(frames)
        if m:
            if m >= win:
                buf[:] = frames.x[-win:]
            else:
                buf[:-m] = buf[m:]
                buf[-m:] = frames.x
            filled = min(win, filled + m)
        t_end = t0 + s + 1
        if args.speed > 0:
            lag = (s + 1) / args.speed - (time.perf_counter() - wall0)
            if lag > 0:
                time.sleep(lag)
        if t_end >= next_hop and filled == win:
            next_hop += args.hop
            a = int((t_end - args.window - bvp.start_time) * bvp.fs)
            raw = bvp.data[max(a, 0) : int((t_end - bvp.start_time) * bvp.fs), 0]
            _, ibi = beat_intervals(detect_pulse_peaks(raw, bvp.fs), bvp.fs)
            hr = 60.0 / np.median(ibi) if ibi.size else float("nan")
            missing = float(np.isnan(buf).any(axis=1).mean())
            label = rec.label_covering(t_end - args.window, t_end) or "(mixed)"
            eda = float(np.nanmean(buf[:, pp.channel_names.index("eda")]))
            temp = float(np.nanmean(buf[:, pp.channel_names.index("temp")]))
            print(
                f"{t_end - t0:>7.0f}  {label:<11}{hr:>7.1f}{eda:>8.3f}{temp:>8.2f}  "
                f"{100 * (1 - missing):.0f}% present",
                flush=True,
            )
    wall = time.perf_counter() - wall0
    print(
        f"replayed {n_sec} s of recording in {wall:.2f} s ({n_sec / max(wall, 1e-9):.0f}x real "
        "time); accuracy: no model bundled yet",
        file=sys.stdout,
    )
    return 0
