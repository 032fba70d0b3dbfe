"""Benchmark of the model stage: LiteRT int8 predict, one window and a batch."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from affectstream.model.predictor import Predictor


def run_model_bench(model: str = "default", repeats: int = 300, batch: int = 64) -> dict[str, Any]:
    """Median and p99 of single-window predicts, and one batch against as many singles."""
    single = Predictor(model, num_threads=1)
    batched = Predictor(model, num_threads=1)
    rng = np.random.default_rng(0)
    shape = single.input_shape
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    for _ in range(10):
        single.predict(x[0])
        batched.predict(x)
    t1 = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        single.predict(x[i % batch])
        t1[i] = time.perf_counter() - t0
    reps_b = max(10, repeats // 10)
    tb = np.empty(reps_b)
    for i in range(reps_b):
        t0 = time.perf_counter()
        batched.predict(x)
        tb[i] = time.perf_counter() - t0
    return {
        "what": f"Predictor.predict on {single.model_id} (int8, {single.runtime}, 1 thread), "
        f"input {single.input_kind} {'x'.join(map(str, shape))}",
        "single_ms_median": float(np.median(t1) * 1e3),
        "single_ms_p99": float(np.percentile(t1, 99) * 1e3),
        "batch": batch,
        "batch_ms_median": float(np.median(tb) * 1e3),
        "singles_ms_for_batch": float(np.median(t1) * 1e3 * batch),
        "batch_speedup": float(np.median(t1) * batch / np.median(tb)),
    }


def format_model_table(r: dict[str, Any]) -> str:
    """Text table of :func:`run_model_bench`."""
    return "\n".join(
        [
            r["what"],
            f"  one window:  median {r['single_ms_median']:.3f} ms, "
            f"p99 {r['single_ms_p99']:.3f} ms",
            f"  batch of {r['batch']}: {r['batch_ms_median']:.3f} ms  vs {r['batch']} singles "
            f"{r['singles_ms_for_batch']:.3f} ms  ({r['batch_speedup']:.1f}x)",
        ]
    )
