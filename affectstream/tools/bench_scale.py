"""Benchmarks of scale: many devices on one core, against the obvious way, memory, replay.

- compute core: N E4-like devices (BVP 64 Hz, EDA 4 Hz, TEMP 4 Hz) fed in-process in 1 s
  chunks, at the model's default hop (15 s for the packaged model); every device's new samples
  go through its Preprocessor and rolling window, a feature model's window features and every
  window's quality are kept up to date hop by hop (``SlidingFeatures``, ``SlidingQuality``),
  each window is encoded, and all windows are predicted in one batched LiteRT call. Pinned to
  one core.
- the obvious way, in the same run: each hop and device, ``sosfiltfilt`` over the whole 60 s
  window, ``resample_poly`` onto the model grid, then the same kind of model in its training
  library: the window's features from scratch (``window_features``: every beat block of the
  window read again) and scikit-learn ``predict_proba`` for a feature model, a Keras
  ``model.predict`` of the float CNN for a frame model.
- memory: RSS growth from 100 to 1,000 devices, divided by 900.
- replay: a one-hour E4 recording through DSP and model, offline (`affectstream evaluate`'s path).
"""

from __future__ import annotations

import gc
import os
import time
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import signal

from affectstream.dsp.calibration import warmup_s
from affectstream.dsp.filters import design_sos
from affectstream.dsp.presets import preset
from affectstream.model.predictor import Predictor
from affectstream.stream.monitor import Monitor

RATES = {"bvp": 64, "eda": 4, "temp": 4}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pin_one_core() -> str:
    """Pin this process to one CPU; returns a description."""
    try:
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return "not pinned"


class _Fleet:
    """N simulated devices with per-device phase so their data differ."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self.level = rng.uniform(1.0, 10.0, n)
        self.noise = {m: rng.standard_normal((64, fs)) for m, fs in RATES.items()}
        self.t0 = 1.7e9

    def chunk(self, dev: int, sec: int) -> dict[str, np.ndarray]:
        t64 = sec + np.arange(64) / 64
        bvp = (
            50 * np.sin(2 * np.pi * 1.2 * t64 + self.phase[dev])
            + 5 * self.noise["bvp"][(dev + sec) % 64]
        )
        eda = self.level[dev] + 0.01 * self.noise["eda"][(dev + sec) % 64]
        temp = 33 + 0.01 * self.noise["temp"][(dev + sec) % 64]
        return {"bvp": bvp, "eda": eda, "temp": temp}


def bench_compute(
    n_devices: int, hops: int = 20, model: str = "default", hop_s: float | None = None
) -> dict[str, Any]:
    """Per-hop wall time for ``n_devices`` (after warm-up: baseline and first window filled).

    ``hop_s``: whole seconds between predictions (default: the model's default hop). Each hop
    every device delivers ``hop_s`` chunks of 1 s.
    """
    pred = Predictor(model)
    hop = max(1, int(round(hop_s or float(pred.metadata["default_hop_s"]))))
    mon = Monitor(pred, hop_s=float(hop), batch=True)
    fleet = _Fleet(n_devices)
    base = warmup_s(mon.predictor.calibration_rule)  # no inference before it
    warm = int(base) + 60 + hop
    names = [f"dev{i:05d}" for i in range(n_devices)]
    starts = dict.fromkeys(RATES, fleet.t0)
    for sec in range(warm):
        for d in range(n_devices):
            mon.push_many(names[d], fleet.chunk(d, sec), start_times=starts if sec == 0 else None)
        mon.flush()
    gc.collect()
    rss = _rss_bytes()
    times = np.empty(hops)
    n_pred = 0
    for h in range(hops):
        secs = range(warm + h * hop, warm + (h + 1) * hop)
        # data arriving: not timed
        chunks = [[fleet.chunk(d, sec) for sec in secs] for d in range(n_devices)]
        t0 = time.perf_counter()
        for d in range(n_devices):
            for ch in chunks[d]:
                mon.push_many(names[d], ch)
        n_pred += len(mon.flush())
        times[h] = time.perf_counter() - t0
    return {
        "devices": n_devices,
        "hop_s": float(hop),
        "input": mon.predictor.input_kind,
        "hop_ms_p50": float(np.median(times) * 1e3),
        "hop_ms_p99": float(np.percentile(times, 99) * 1e3),
        "us_per_device_hop": float(np.median(times) / n_devices * 1e6),
        "predictions_per_hop": n_pred / hops,
        "real_time": bool(np.percentile(times, 99) < hop),
        "rss_bytes": rss,
    }


def _obvious_model(input_kind: str, n_features: int) -> Any:
    """A callable ``frames (1, 1920, 3) -> probabilities`` in the model's training library."""
    if input_kind == "features":
        from affectstream.dsp.features import window_features
        from affectstream.model.baselines import logistic_regression

        rng = np.random.default_rng(0)
        est = logistic_regression(0).fit(rng.standard_normal((50, n_features)), np.arange(50) % 2)
        return lambda x: est.predict_proba(
            window_features(x[0].astype(np.float64), list(RATES), 32.0)[None]
        )
    from affectstream.model.cnn import compact_cnn, load_keras

    load_keras()
    net = compact_cnn(1920, 3, 2)
    return lambda x: net.predict(x, verbose=0)


def bench_obvious(n: int = 30, input_kind: str = "frames", n_features: int = 0) -> dict[str, Any]:
    """The original way per device and hop: zero-phase filter over the 60 s window, resample,
    then the model in its training library (features + scikit-learn, or Keras predict)."""
    try:
        model = _obvious_model(input_kind, n_features)
    except ImportError:
        return {"skipped": "needs the train extra (scikit-learn, TensorFlow)"}
    rng = np.random.default_rng(0)
    win = {m: rng.standard_normal(60 * fs) for m, fs in RATES.items()}
    sos = {m: design_sos(preset(m), fs) for m, fs in RATES.items()}
    ratio = {m: Fraction(32, fs) for m, fs in RATES.items()}
    model(np.zeros((1, 1920, 3), np.float32))
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        cols = [
            signal.resample_poly(
                signal.sosfiltfilt(sos[m], win[m]), ratio[m].numerator, ratio[m].denominator
            )[:1920]
            for m in RATES
        ]
        x = np.stack(cols, axis=1)[None].astype(np.float32)
        model(x)
        times[i] = time.perf_counter() - t0
    return {"us_per_device_hop": float(np.median(times) * 1e6)}


def bench_replay(model: str = "default", path: str | None = None) -> dict[str, Any]:
    """One hour of E4 data through DSP and model as `affectstream evaluate` runs it."""
    from affectstream.data import Recording, Signal, load_recordings
    from affectstream.model.offline import predict_recording

    pred = Predictor(model)
    if path:
        rec = load_recordings(path)[0]
        src = path
    else:
        fleet = _Fleet(1)
        parts = [fleet.chunk(0, s) for s in range(3600)]
        rec = Recording(
            {
                m: Signal(np.concatenate([p[m] for p in parts]), fs, fleet.t0, (m,))
                for m, fs in RATES.items()
            },
            subject="synthetic",
        )
        src = "synthetic E4-like hour"
    t0 = time.perf_counter()
    rp = predict_recording(pred, rec)
    wall = time.perf_counter() - t0
    return {
        "recording": src,
        "duration_s": rec.duration,
        "wall_s": wall,
        "windows": int(len(rp.t_end)),
        "x_real_time": rec.duration / wall,
    }


def run_scale_bench(
    devices: tuple[int, ...] = (100, 1000),
    hops: int = 20,
    model: str = "default",
    replay_path: str | None = None,
    hop_s: float | None = None,
) -> dict[str, Any]:
    """All scale figures (pins the process to one core first); ``hop_s``: the model's default
    hop unless given."""
    pinned = pin_one_core()
    res: dict[str, Any] = {"cpu": pinned, "compute": []}
    for n in devices:
        res["compute"].append(bench_compute(n, hops, model, hop_s))
        gc.collect()
    pred = Predictor(model)
    res["obvious"] = bench_obvious(input_kind=pred.input_kind, n_features=len(pred.feature_names))
    big = res["compute"][-1]
    if "us_per_device_hop" in res["obvious"]:
        res["obvious_ratio"] = res["obvious"]["us_per_device_hop"] / big["us_per_device_hop"]
    if len(devices) >= 2:
        a, b = res["compute"][0], res["compute"][-1]
        res["memory_per_device_bytes"] = (b["rss_bytes"] - a["rss_bytes"]) / (
            b["devices"] - a["devices"]
        )
    res["replay"] = bench_replay(model, replay_path)
    return res


def format_scale_table(r: dict[str, Any]) -> str:
    """Text table of :func:`run_scale_bench`."""
    lines = [
        f"compute core, E4-like devices, {r['compute'][0]['hop_s']:g} s hop, "
        f"{r['compute'][0]['input']} model, batched LiteRT inference ({r['cpu']}):",
        f"{'devices':>8}{'hop p50 ms':>12}{'hop p99 ms':>12}{'us/device-hop':>15}{'real time':>11}",
    ]
    lines.extend(
        f"{c['devices']:>8}{c['hop_ms_p50']:>12.1f}{c['hop_ms_p99']:>12.1f}"
        f"{c['us_per_device_hop']:>15.1f}{'yes' if c['real_time'] else 'NO':>11}"
        for c in r["compute"]
    )
    ob = r["obvious"]
    if "skipped" in ob:
        lines.append(f"obvious way: skipped ({ob['skipped']})")
    else:
        lines.append(
            f"obvious way (sosfiltfilt + resample_poly over 60 s + "
            f"{'features + scikit-learn' if r['compute'][0]['input'] == 'features' else 'Keras'}"
            f" predict): "
            f"{ob['us_per_device_hop']:.0f} us/device-hop -> affectstream is "
            f"{r['obvious_ratio']:.{1 if r['obvious_ratio'] < 10 else 0}f}x cheaper"
        )
    if "memory_per_device_bytes" in r:
        lines.append(
            f"memory: {r['memory_per_device_bytes'] / 1024:.0f} KB per device "
            "(RSS growth 100 -> 1,000 devices / 900)"
        )
    rp = r["replay"]
    lines.append(
        f"replay: {rp['duration_s'] / 3600:.2f} h ({rp['recording']}) through DSP and "
        f"model in {rp['wall_s']:.3f} s = {rp['x_real_time']:.0f}x real time"
    )
    return "\n".join(lines)
