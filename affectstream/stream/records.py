"""The prediction record every sink receives (JSON-ready dicts)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from affectstream.stream.device import PendingWindow

#: Keys every record has; abstentions have ``label`` None and a ``reason``.
RECORD_KEYS = ("device", "t", "label", "probs", "quality", "model", "latency_ms")


def make_record(
    w: PendingWindow, probs: np.ndarray | None, classes: list[str], model: str, seq: int
) -> dict[str, Any]:
    """One prediction (or abstention) record.

    ``t`` is the window end, Unix time in seconds (sources map their senders' clocks to it; the
    daemon adds ``clock``, naming the clock it came from); ``latency_ms`` runs from the arrival
    of the data that completed the window to now.
    """
    rec: dict[str, Any] = {
        "device": w.device,
        "t": round(float(w.t_end), 6),
        "label": None,
        "probs": {},
        "quality": round(float(w.quality), 4),
        "model": model,
        "latency_ms": 0.0,
        "seq": seq,
    }
    if probs is None:
        rec["reason"] = w.reason
    else:
        rec["probs"] = {c: round(float(p), 6) for c, p in zip(classes, probs, strict=True)}
        rec["label"] = classes[int(np.argmax(probs))]
    rec["latency_ms"] = round((time.perf_counter() - w.received) * 1e3, 3)
    return rec
