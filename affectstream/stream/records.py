"""The prediction record every sink receives: :class:`PredictionRecord`, its JSON form the wire
contract (README, "Wire contracts")."""

from __future__ import annotations

import time
from typing import NotRequired, TypedDict

import numpy as np

from affectstream.stream.device import PendingWindow

#: Keys every record has; abstentions have ``label`` None and a ``reason``.
RECORD_KEYS = ("device", "t", "label", "probs", "quality", "model", "latency_ms", "seq")


class PredictionRecord(TypedDict):
    """One prediction, abstention or ``calibrating`` notice, as published (JSON object).

    Attributes
    ----------
    device
        The device id.
    t
        Window end, Unix time in seconds (the warm-up notice: the device's latest data).
    label
        The class called, or None for an abstention or a warm-up notice.
    probs
        Class -> probability after the output step; empty when ``label`` is None.
    quality
        Window signal quality in [0, 1].
    model
        The bundle's model id.
    latency_ms
        From the arrival of the data that completed the window to the record, milliseconds.
    seq
        Per device, counting every record from 0 (kept across restarts with the saved state).
    reason
        Why there is no label (``calibrating``, ``missing data (..)``, ``poor signal quality:
        ..``); absent on predictions.
    warmup_left_s
        ``calibrating`` notices only: seconds of data the device still needs.
    clock
        Added by the daemon: the clock ``t`` came from (``unix``, ``lsl``, ``recording``,
        ``replay``).
    """

    device: str
    t: float
    label: str | None
    probs: dict[str, float]
    quality: float
    model: str
    latency_ms: float
    seq: int
    reason: NotRequired[str | None]
    warmup_left_s: NotRequired[float]
    clock: NotRequired[str]


def make_record(
    w: PendingWindow, probs: np.ndarray | None, classes: list[str], model: str, seq: int
) -> PredictionRecord:
    """One prediction (or abstention) record for window ``w``; ``probs`` ``(n_classes,)`` or
    None for an abstention."""
    rec: PredictionRecord = {
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
