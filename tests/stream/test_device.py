"""One device's live state: its DSP and person session, with counters, saved and restored."""

from __future__ import annotations

import json

from affectstream.model.predictor import Predictor
from affectstream.stream.device import DeviceState
from affectstream.stream.device_store import from_json, to_json
from affectstream.stream.replay import replay_chunks


def test_counters_and_a_saved_state_round_trip(excerpt):
    pred = Predictor("default")
    dev = DeviceState("wrist-1", pred)
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 420)
    windows = []
    for c in replay_chunks(rec, ["bvp", "eda", "temp"], 1.0):
        windows += dev.push(c.modality, c.samples, start_time=c.start_time)
    st = dev.status()
    assert st["samples_in"]["bvp"] == rec.signals["bvp"].n_samples
    assert st["windows"] == len(windows) > 0 and st["calibrated"]
    assert dev.last_frame_s is not None and abs(dev.last_frame_s - rec.end_time) < 1.0

    back = DeviceState("wrist-1", pred)
    back.load_state_dict(from_json(json.loads(json.dumps(to_json(dev.state_dict())))))
    assert back.status() == st and back.last_frame_s == dev.last_frame_s
