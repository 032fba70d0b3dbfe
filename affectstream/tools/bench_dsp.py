"""Benchmark of the DSP stage: incremental Preprocessor against a full-window recompute.

Per hop (1 s of new samples), the incremental path filters only the new samples (carried state)
and resamples them onto the model grid. The obvious way keeps the raw 60 s window and, every
hop, runs a zero-phase filter (``sosfiltfilt``) over it and resamples it whole
(``resample_poly``). Both run in the same process on the same synthetic streams.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import signal

from affectstream.dsp.filters import design_sos
from affectstream.dsp.preprocessor import Preprocessor
from affectstream.dsp.presets import preset

#: The stream layouts measured: name -> (modality, rate in Hz) list, and the model grid rate.
SCENARIOS: dict[str, tuple[list[tuple[str, float]], float]] = {
    "E4 wrist (BVP 64 Hz, EDA 4 Hz, TEMP 4 Hz)": (
        [("bvp", 64.0), ("eda", 4.0), ("temp", 4.0)],
        32.0,
    ),
    "ECG 256 Hz": ([("ecg", 256.0)], 128.0),
}

WINDOW_S = 60.0
HOP_S = 1.0


def _synthetic(modality: str, fs: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    base = {"bvp": 0.0, "eda": 2.0, "temp": 33.0, "ecg": 0.0}[modality]
    return base + np.sin(2 * np.pi * 1.2 * t) + 0.1 * rng.standard_normal(t.size)


def _full_recompute(window: np.ndarray, sos: np.ndarray, up: int, down: int) -> np.ndarray:
    return signal.resample_poly(signal.sosfiltfilt(sos, window), up, down)


def bench_scenario(mods: list[tuple[str, float]], rate: float, hops: int) -> dict[str, Any]:
    """Median and p99 cost per hop (microseconds) of both paths for one stream layout."""
    rng = np.random.default_rng(0)
    total_s = WINDOW_S + hops * HOP_S
    data = {m: _synthetic(m, fs, total_s, rng) for m, fs in mods}
    cfg = {"model_rate": rate, "modalities": [{"name": m, "fs": fs} for m, fs in mods]}
    pp = Preprocessor(cfg)
    # warm the incremental path with the first window, as a running monitor would be
    for m, fs in mods:
        pp.push(m, data[m][: int(WINDOW_S * fs)], start_time=0.0)
    inc = np.empty(hops)
    for h in range(hops):
        t0 = time.perf_counter()
        chunks = {}
        for m, fs in mods:
            a = int((WINDOW_S + h * HOP_S) * fs)
            chunks[m] = data[m][a : a + int(HOP_S * fs)]
        pp.push_many(chunks)
        inc[h] = time.perf_counter() - t0
    sos = {m: design_sos(preset(m), fs) for m, fs in mods}
    ratios = {m: Fraction(rate / fs).limit_denominator(1000) for m, fs in mods}
    full = np.empty(hops)
    for h in range(hops):
        t0 = time.perf_counter()
        for m, fs in mods:
            b = int((WINDOW_S + h * HOP_S) * fs)
            win = data[m][b - int(WINDOW_S * fs) : b]
            _full_recompute(win, sos[m], ratios[m].numerator, ratios[m].denominator)
        full[h] = time.perf_counter() - t0
    return {
        "hops": hops,
        "incremental_us_median": float(np.median(inc) * 1e6),
        "incremental_us_p99": float(np.percentile(inc, 99) * 1e6),
        "full_recompute_us_median": float(np.median(full) * 1e6),
        "full_recompute_us_p99": float(np.percentile(full, 99) * 1e6),
        "ratio": float(np.median(full) / np.median(inc)),
    }


def run_dsp_bench(hops: int = 300) -> dict[str, Any]:
    """All scenarios; JSON-ready."""
    return {
        "what": "DSP cost per 1 s hop: incremental Preprocessor.push_many of the new samples vs "
        "sosfiltfilt + resample_poly over the whole 60 s window (same process, same data)",
        "scenarios": {name: bench_scenario(m, r, hops) for name, (m, r) in SCENARIOS.items()},
    }


def format_dsp_table(res: dict[str, Any]) -> str:
    """A text table of :func:`run_dsp_bench`'s result."""
    lines = [
        res["what"],
        "",
        f"{'stream':<44}{'incremental':>14}{'full window':>14}{'ratio':>9}",
        f"{'':<44}{'us/hop p50':>14}{'us/hop p50':>14}{'':>9}",
    ]
    for name, r in res["scenarios"].items():
        lines.append(
            f"{name:<44}{r['incremental_us_median']:>14.1f}"
            f"{r['full_recompute_us_median']:>14.1f}{r['ratio']:>8.1f}x"
        )
    return "\n".join(lines)
