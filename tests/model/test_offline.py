"""Offline prediction of a recording: the live monitor's windows, from the same session."""

from __future__ import annotations

import dataclasses

import numpy as np

from affectstream.model.offline import predict_recording
from affectstream.model.predictor import Predictor


def test_windows_follow_the_schedule_and_a_blanked_minute_abstains(excerpt):
    pred = Predictor("default")
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 900)
    bvp = rec.signals["bvp"]
    data = bvp.data.copy()
    a = int(600 * bvp.fs)
    data[a : a + int(90 * bvp.fs)] = np.nan  # the pulse wave lost for 90 s from 600 s
    blanked = dataclasses.replace(
        rec, signals={**rec.signals, "bvp": dataclasses.replace(bvp, data=data)}
    )
    out = predict_recording(pred, blanked)
    rel = out.t_end - rec.start_time
    hop = pred.metadata["default_hop_s"]
    # the first window after the 300 s warm-up, then one every hop
    assert rel[0] >= 300 and np.allclose(np.diff(rel), hop)
    during = [(t, why) for t, why in zip(rel, out.reasons, strict=True) if 606 < t <= 690]
    assert during and all(why and why.startswith("missing data") for _, why in during)
    assert all(np.isnan(out.probs[i]).all() for i, t in enumerate(rel) if 606 < t <= 690)
    after = [i for i, t in enumerate(rel) if t >= 756]
    assert after and all(out.reasons[i] is None for i in after)
    np.testing.assert_allclose(out.probs[after].sum(axis=1), 1.0, atol=1e-6)
    assert {out.true[i] for i in after} <= set(pred.classes) | {None}
