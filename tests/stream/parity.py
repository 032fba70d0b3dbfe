"""Helpers shared by the parity tests: offline predictions of the bundled excerpt."""

from __future__ import annotations

import numpy as np

from affectstream.data import Recording
from affectstream.model.offline import predict_recording
from affectstream.model.predictor import Predictor
from affectstream.stream.sinks import CallbackSink

#: int8 output step of a two-class softmax is 1/256; allow two steps.
PROB_TOL = 2.5 / 256


def offline_by_time(
    pred: Predictor, rec: Recording, hop_s: float | None = None
) -> dict[float, dict]:
    """Window end time -> {"label", "probs"} as `affectstream evaluate` predicts them."""
    rp = predict_recording(pred, rec, hop_s=hop_s)
    out = {}
    for t, p, why in zip(rp.t_end, rp.probs, rp.reasons, strict=True):
        out[round(float(t), 6)] = (
            {"label": None}
            if why
            else {
                "label": pred.classes[int(np.argmax(p))],
                "probs": dict(zip(pred.classes, p, strict=True)),
            }
        )
    return out


def assert_parity(records: list[dict], offline: dict[float, dict], classes: list[str]) -> int:
    """Every live record matches the offline prediction for its window; returns the count."""
    assert records, "no predictions arrived"
    n = 0
    for r in records:
        ref = offline[round(r["t"], 6)]
        assert r["label"] == ref["label"], (r, ref)
        if r["label"] is not None:
            for c in classes:
                assert abs(r["probs"][c] - ref["probs"][c]) <= PROB_TOL, (r, ref)
            n += 1
    return n


def is_warmup(record: dict) -> bool:
    """A ``calibrating`` record sent while the device warms up (not a window)."""
    return "warmup_left_s" in record


def window_sink(records: list[dict]) -> CallbackSink:
    """A sink keeping the window records (predictions and abstentions), not the warm-up ones."""
    return CallbackSink(lambda r: None if is_warmup(r) else records.append(r))
