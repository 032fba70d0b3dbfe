"""Saved device states: a resumed person goes on as if the daemon had run through a gap."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from affectstream.model.predictor import Predictor
from affectstream.stream.device_store import STATE_VERSION, DeviceStore, from_json, to_json
from affectstream.stream.monitor import DeviceLimitError, Monitor
from affectstream.stream.replay import ReplayChunk, replay_chunks

MODS = ["bvp", "eda", "temp"]
#: The device goes quiet after QUIET_S and comes back at BACK_S (seconds into the excerpt):
#: a break longer than a window. QUIET_S lies 8 s after a window end (600 s), so no window
#: ends in the 6 s (max_missing of 60 s) after it: every window the silence touches abstains.
QUIET_S, BACK_S = 608.0, 700.0


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor("default")


def chunks_with_a_break(rec) -> tuple[list[ReplayChunk], list[ReplayChunk]]:
    """The excerpt's 1 s chunks before the break and after it."""
    cs = list(replay_chunks(rec, MODS, 1.0))
    return [c for c in cs if c.t_end <= QUIET_S], [c for c in cs if c.t_end - 1.0 >= BACK_S]


def feed(mon: Monitor, chunks: list[ReplayChunk], device: str = "wrist") -> list[dict]:
    out: list[dict] = []
    for c in chunks:
        out += mon.push(device, c.modality, c.samples, start_time=c.start_time)
    return [r for r in out if "warmup_left_s" not in r]


def test_json_form_keeps_arrays_nan_and_nesting():
    state = {"a": np.array([[1.5, np.nan], [3.0, -np.inf]]), "b": [np.arange(3), None, 2.0]}
    back = from_json(json.loads(json.dumps(to_json(state))))
    np.testing.assert_array_equal(back["a"], state["a"])
    assert back["a"].dtype == np.float64 and back["b"][0].dtype == state["b"][0].dtype
    assert back["b"][1:] == [None, 2.0]


def test_a_resumed_device_predicts_exactly_as_an_uninterrupted_monitor(
    excerpt, predictor, tmp_path
):
    before, after = chunks_with_a_break(excerpt)
    uninterrupted = {r["t"]: r for r in feed(Monitor(predictor), before + after)}

    first = Monitor(predictor, store=DeviceStore(tmp_path, predictor.model_id))
    feed(first, before)
    assert first.save() == 1
    saved = json.loads((tmp_path / "wrist.state.json").read_text())
    assert saved["version"] == STATE_VERSION and saved["model_id"] == predictor.model_id
    assert len(json.dumps(saved)) < 16_000  # small: no window content

    resumed = Monitor(predictor, store=DeviceStore(tmp_path, predictor.model_id))
    got = feed(resumed, after)
    assert resumed.restored == 1
    predicted = [r for r in got if r["label"] is not None]
    t_back = excerpt.start_time + BACK_S
    # one window (60 s) after the data comes back, plus at most a hop: not a new 300 s warm-up
    assert predicted and predicted[0]["t"] <= t_back + 60 + 15
    for r in got:  # every window after the break: the same label and the same probabilities
        ref = uninterrupted[r["t"]]
        assert (r["label"], r["seq"]) == (ref["label"], ref["seq"])
        if r["label"] is None:  # both abstain for missing data (the shares differ)
            assert r["reason"].startswith("missing data") and ref["reason"].startswith("missing")
        else:
            assert r["probs"] == ref["probs"]
    assert len(got) == len([t for t in uninterrupted if t > excerpt.start_time + QUIET_S])

    # without the saved state the same data waits for a new warm-up
    fresh = [r for r in feed(Monitor(predictor), after) if r["label"] is not None]
    assert not fresh or fresh[0]["t"] >= t_back + 300


def test_unusable_state_files_are_logged_and_ignored(excerpt, predictor, tmp_path, caplog):
    before, after = chunks_with_a_break(excerpt)
    store = DeviceStore(tmp_path, predictor.model_id)
    mon = Monitor(predictor, store=store)
    feed(mon, before, "a")
    mon.save()
    good = json.loads((tmp_path / "a.state.json").read_text())
    (tmp_path / "torn.state.json").write_text((tmp_path / "a.state.json").read_text()[:500])
    (tmp_path / "other.state.json").write_text(
        json.dumps({**good, "model_id": "x", "device": "other"})
    )
    (tmp_path / "old.state.json").write_text(json.dumps({**good, "version": 0, "device": "old"}))
    broken = {**good, "device": "broken"}
    broken["state"]["device"]["session"]["window"] = 7
    (tmp_path / "broken.state.json").write_text(json.dumps(broken))
    mon2 = Monitor(predictor, store=DeviceStore(tmp_path, predictor.model_id))
    with caplog.at_level(logging.WARNING, logger="affectstream.daemon"):
        for dev in ("torn", "other", "old", "broken"):
            feed(mon2, after[:6], dev)
    assert mon2.restored == 0 and mon2.store.ignored == 4
    for dev, why in (
        ("torn", "not valid JSON"),
        ("other", "saved under model 'x'"),
        ("old", "format version 0"),
        ("broken", "does not fit"),
    ):
        assert any(dev in m and why in m for m in caplog.messages), (dev, caplog.messages)
    assert all(not mon2.devices[d].session.calibrated for d in ("torn", "other", "old", "broken"))


def test_a_state_resumes_only_when_the_data_goes_on(excerpt, predictor, tmp_path):
    before, after = chunks_with_a_break(excerpt)
    mon = Monitor(predictor, store=DeviceStore(tmp_path, predictor.model_id))
    feed(mon, before)
    mon.save()
    late = Monitor(predictor, store=DeviceStore(tmp_path, predictor.model_id), resume_within_s=60)
    feed(late, after[:10])  # 92 s after the last saved frame: a new session
    assert late.restored == 0
    again = Monitor(predictor, store=DeviceStore(tmp_path, predictor.model_id))
    feed(again, before[:10])  # the clock went back (a replay from the start): a new session
    assert again.restored == 0


def test_the_device_table_is_bounded_and_never_evicts_an_active_device(excerpt, predictor):
    before, _ = chunks_with_a_break(excerpt)
    mon = Monitor(predictor, max_devices=2)
    feed(mon, before[:30], "a")
    feed(mon, before[:30], "b")
    with pytest.raises(DeviceLimitError, match="limit of 2 devices"):
        feed(mon, before[:3], "c")
    assert set(mon.devices) == {"a", "b"} and mon.refused == 1
    assert feed(mon, before[30:], "a")  # the held devices go on


def test_idle_devices_are_saved_evicted_and_resume_on_return(excerpt, predictor, tmp_path):
    before, after = chunks_with_a_break(excerpt)
    mon = Monitor(predictor, max_devices=1, store=DeviceStore(tmp_path, predictor.model_id))
    feed(mon, before, "a")
    now = mon.devices["a"].last_data
    assert mon.evict_idle(5.0, now=now + 1.0) == []  # not idle yet
    assert mon.evict_idle(5.0, now=now + 6.0) == ["a"]
    assert not mon.devices and (tmp_path / "a.state.json").exists()
    feed(mon, before[:3], "b")  # the freed place is taken by a new device
    mon.forget("b")
    got = feed(mon, after, "a")
    first = next(r["t"] for r in got if r["label"] is not None)
    assert mon.restored == 1 and first <= excerpt.start_time + BACK_S + 75


def test_a_snapshot_is_detached_from_the_device_that_goes_on(excerpt, predictor):
    """The daemon writes snapshots from a worker thread while the device goes on: a snapshot
    must not change after it is taken (every state_dict copies its arrays)."""
    mon = Monitor(predictor)
    before, after = chunks_with_a_break(excerpt)
    feed(mon, before)
    ((_, state, last),) = mon.snapshot(["wrist"], changed_only=False)
    frozen = json.dumps(to_json(state))
    feed(mon, after)
    assert json.dumps(to_json(state)) == frozen
    ((_, now, later),) = mon.snapshot(["wrist"], changed_only=False)
    assert json.dumps(to_json(now)) != frozen and later > last
