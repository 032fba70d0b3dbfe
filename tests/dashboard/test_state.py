"""The dashboard's per-device state: fed by the real monitor on the bundled excerpt."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from affectstream.dashboard.model_info import model_info
from affectstream.dashboard.state import (
    ABSTAINING,
    CALIBRATED,
    HISTORY_S,
    WARMING_UP,
    DashboardState,
    RawTrace,
    RecordError,
    check_record,
)
from affectstream.data import Recording
from affectstream.model.predictor import Predictor
from affectstream.stream.monitor import Monitor
from affectstream.stream.replay import replay_chunks


def with_pulse_lost(rec: Recording, at_s: float = 400.0, for_s: float = 50.0) -> Recording:
    """A copy of ``rec`` whose pulse wave is missing (NaN) for ``for_s`` s from ``at_s`` s."""
    bvp = rec.signals["bvp"]
    data = bvp.data.copy()
    a = int(at_s * bvp.fs)
    data[a : a + int(for_s * bvp.fs)] = np.nan
    signals = {**rec.signals, "bvp": dataclasses.replace(bvp, data=data)}
    return dataclasses.replace(rec, signals=signals)


def test_model_info_states_the_operating_point_of_the_default_bundle():
    info = model_info("default")
    assert info.classes == ("non-stress", "stress") and info.window_s == 60.0
    assert info.positive == "stress" and info.threshold == 0.5
    # the bundle's offset favours non-stress: the model's own p(stress) must clear more than 0.5
    assert 0.5 < info.raw_threshold < 0.9
    offset = Predictor("default").calibration_rule["output"]["log_offset"]
    assert abs(info.raw_threshold - 1 / (1 + math.exp(-offset))) < 1e-4
    assert f"{info.raw_threshold:.2f}" in info.note


def test_the_replayed_excerpt_warms_up_then_is_calibrated_then_abstains_with_its_reason(excerpt):
    rec = with_pulse_lost(excerpt.slice_time(excerpt.start_time, excerpt.start_time + 480))
    mon = Monitor("default", warmup_every_s=30.0)
    state = DashboardState(model_info("default"))
    seen: list[str] = []
    for ch in replay_chunks(rec, mon.modalities):
        state.add_raw("S13", ch.modality, ch.start_time, ch.fs, ch.samples, ch.channels)
        for r in mon.push("S13", ch.modality, ch.samples, start_time=ch.start_time):
            assert state.add_record(r)
            v = state.devices["S13"]
            if not seen or seen[-1] != v.state:
                seen.append(v.state)
            if v.state == WARMING_UP:
                assert 0 <= state.row(v)["warmup_left_s"] <= 300
    assert seen[:3] == [WARMING_UP, CALIBRATED, ABSTAINING], seen
    v = state.devices["S13"]
    row = state.row(v)
    assert row["state"] == ABSTAINING and "missing" in row["reason"]
    assert set(row["probs"]) == {"non-stress", "stress"}  # the last prediction's, kept
    d = state.detail("S13")
    assert d["window"][1] - d["window"][0] == 60.0
    gaps = [h for h in d["history"] if h["probs"] is None]
    assert any(h["reason"] == "calibrating" for h in gaps) and any(
        "missing" in h["reason"] for h in gaps
    )
    # 75 s of raw signal: the model's window and one hop
    bvp_t = d["raw"]["bvp"]["t"]
    assert d["raw_end"] - bvp_t[0] <= 75.0 + 1e-6 and d["raw_end"] - bvp_t[0] > 70.0
    assert None in d["raw"]["bvp"]["values"][0]  # the lost pulse is sent as gaps


def test_history_keeps_one_hour_and_rows_report_only_what_changed():
    state = DashboardState(model_info("default"))
    for k in range(300):
        rec = {
            "device": "w1",
            "t": 1.7e9 + 15.0 * k,
            "label": "stress",
            "probs": {"non-stress": 0.2, "stress": 0.8},
            "quality": 1.0,
        }
        state.add_record(rec)
    h = state.detail("w1")["history"]
    assert h[-1]["t"] - h[0]["t"] <= HISTORY_S and len(h) == 241
    v0 = state.version
    state.add_record({"device": "w2", "t": 1.7e9, "label": None, "reason": "flat signal"})
    assert [r["device"] for r in state.rows(v0)] == ["w2"]
    state.add_raw("w1", "eda", 1.7e9, 4.0, np.ones(4))
    assert list(state.arrivals(v0 + 1)) == ["w1"] and state.rows(v0 + 1) == []


@pytest.mark.parametrize(
    "rec, what",
    [
        ([1, 2], "JSON object"),
        ({"t": 1.0}, "'device'"),
        ({"device": "a", "t": "soon"}, "'t'"),
        ({"device": "a", "t": 1.0, "label": "x"}, "without 'probs'"),
        ({"device": "a", "t": 1.0, "label": None}, "needs a 'reason'"),
        ({"device": "a", "t": 1.0, "label": "x", "probs": {"x": "high"}}, "'probs'"),
    ],
)
def test_bad_records_are_refused_naming_the_key(rec, what):
    with pytest.raises(RecordError, match=what):
        check_record(rec)
    state = DashboardState(model_info("default"))
    assert not state.add_record(rec) and state.counters["bad_records"] == 1
    assert state.devices == {}


def test_raw_thinning_keeps_each_bins_extremes():
    tr = RawTrace(("bvp",))
    fs = 64.0
    x = np.sin(2 * np.pi * 1.2 * np.arange(int(75 * fs)) / fs)
    x[1000] = 9.0  # one spike must survive the thinning
    tr.add(0.0, fs, x[:, None], keep_s=75.0)
    s = tr.series(since=0.0, points=600)
    assert len(s["t"]) <= 600 and max(s["values"][0]) == 9.0
    assert min(s["values"][0]) < -0.99
