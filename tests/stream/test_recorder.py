"""``affectstream record``: what a live source delivers, written to ``.npz`` per device and
session; the file reads back bit for bit, predicts as the original, and survives a crash up to
its last flush."""

from __future__ import annotations

import asyncio
import time
import uuid

import numpy as np
import pytest

from affectstream.data import load_npz, load_recordings
from affectstream.model.predictor import Predictor
from affectstream.stream.config import BrokerConfig
from affectstream.stream.events import ChunkEvent
from affectstream.stream.mqtt_link import MqttLink
from affectstream.stream.mqtt_source import MqttSource
from affectstream.stream.payload import RAW_TOPIC_FILTER
from affectstream.stream.problems import Problems
from affectstream.stream.recorder import SessionRecorder, record_until
from affectstream.stream.replay import replay_chunks
from affectstream.stream.replay_publish import publish_lsl, publish_mqtt
from tests.stream.parity import offline_by_time

MODS = ["bvp", "eda", "temp"]


def record_mqtt(broker, rec, device: str, out) -> list:
    """Publish ``rec`` over MQTT as ``device`` while recording the broker's raw topics."""
    recorder = SessionRecorder(out, flush_s=1.0)
    src = MqttSource([RAW_TOPIC_FILTER], Problems())
    b = BrokerConfig(host="127.0.0.1", port=broker.port)
    link = MqttLink(b, src.topics, src.handle)

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(record_until(recorder, [src], stop, links=[link]))
        await asyncio.wait_for(link.connected.wait(), 10)
        await asyncio.sleep(0.3)  # subscribed
        n = await publish_mqtt(rec, b, device, speed=0, modalities=MODS)
        deadline = time.monotonic() + 30
        while recorder.counters["chunks"] < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        return await asyncio.wait_for(task, 20)

    return asyncio.run(main())


def test_record_of_a_replayed_session_replays_to_the_same_predictions(broker, excerpt, tmp_path):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 480)
    files = record_mqtt(broker, rec, "rec-a", tmp_path / "first")
    assert [f.name for f in files] == ["rec-a_20220221T112407Z.npz"]
    back = load_npz(files[0])
    assert back.subject == "rec-a" and back.meta["recorded_by"] == "affectstream record"
    for m in MODS:
        a, b = back.signals[m], rec.signals[m]
        assert (a.fs, a.start_time, a.timestamps) == (b.fs, b.start_time, None)
        assert np.array_equal(a.data, b.data)  # bit for bit
    pred = Predictor("default")
    want = offline_by_time(pred, rec)
    got = offline_by_time(pred, back)
    assert sum(v["label"] is not None for v in want.values()) >= 10
    assert got == want
    # recorded, replayed and recorded again: the same file contents
    again = record_mqtt(broker, back, "rec-a", tmp_path / "second")
    twice = load_npz(again[0])
    for m in MODS:
        assert np.array_equal(twice.signals[m].data, back.signals[m].data)
        assert twice.signals[m].start_time == back.signals[m].start_time


def chunk_events(rec, device: str, chunk_s: float = 1.0):
    for ch in replay_chunks(rec, MODS, chunk_s):
        yield ch, ChunkEvent(device, ch.modality, ch.samples, ch.start_time, fs=ch.fs, seq=ch.seq)


def test_a_crash_loses_at_most_the_flush_interval_and_rotation_makes_parts(excerpt, tmp_path):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 400)
    now = [0.0]
    r = SessionRecorder(tmp_path, flush_s=5.0, rotate_s=120.0, clock=lambda: now[0])
    events = list(chunk_events(rec, "wrist"))
    for ch, ev in [e for e in events if e[0].t_end <= 200]:
        now[0] = ch.t_end  # chunks arrive in real time
        r.add(ev)
        r.flush()
    # "crash" here: no close(); what is on disk is the last flush, at most 5 s old
    on_disk = load_recordings(tmp_path)
    assert [x.session for x in on_disk] == ["20220221T112407Z", "20220221T112407Z_002"]
    lost = 200 - (on_disk[-1].end_time - rec.start_time)
    assert 0 <= lost <= 5 + 1
    assert all(x.duration == pytest.approx(120, abs=1) for x in on_disk[:1])
    assert not list(tmp_path.glob(".*tmp*"))  # no half-written files left behind
    for _, ev in [e for e in events if e[0].t_end > 200]:
        r.add(ev)
    files = r.close()
    parts = [load_npz(f) for f in files]
    assert len(parts) == 4  # 400 s in parts of 120 s
    for m in MODS:
        joined = np.concatenate([p.signals[m].data for p in parts])
        assert np.array_equal(joined, rec.signals[m].data)


def test_lsl_streams_with_a_marker_stream(excerpt, tmp_path):
    import pylsl

    from affectstream.stream.lsl_markers import LslMarkerSource
    from affectstream.stream.lsl_source import LslSource

    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 24)  # inlets hold 30 s
    device = f"rec-{uuid.uuid4().hex[:6]}"
    recorder = SessionRecorder(tmp_path, flush_s=1.0)
    ids = [f"{device}/{m}" for m in MODS]
    sources = [
        LslSource(MODS, Problems(), source_ids=ids),
        LslMarkerSource(lambda dev, t, text: recorder.add_marker(t, text, dev)),
    ]
    info = pylsl.StreamInfo("markers", "Markers", 1, 0, pylsl.cf_string, f"{device}/markers")
    marker_outlet = pylsl.StreamOutlet(info)

    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(record_until(recorder, sources, stop))
        pushing = asyncio.create_task(
            publish_lsl(rec, device, speed=0, modalities=MODS, wait_for_consumers_s=20)
        )
        deadline = time.monotonic() + 20
        while not marker_outlet.have_consumers() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        from affectstream.stream.clock import unix_to_lsl

        marker_outlet.push_sample(["stress:start"], unix_to_lsl(rec.start_time + 4))
        marker_outlet.push_sample(["stress:end"], unix_to_lsl(rec.start_time + 16))
        await pushing  # it lingers 2 s for the inlets to drain
        want = sum(s.n_samples for s in rec.signals.values())
        deadline = time.monotonic() + 10
        while recorder.counters["samples"] < want and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # LSL re-chunks: count samples, not chunks
        stop.set()
        return await asyncio.wait_for(task, 20)

    files = asyncio.run(main())
    back = load_npz(files[0])
    assert back.subject == device and set(back.signals) == set(MODS)
    for m in MODS:  # what arrived (an inlet may miss the first seconds), bit for bit
        a, b = back.signals[m], rec.signals[m]
        i = round((a.start_time - b.start_time) * b.fs)
        assert a.n_samples > b.n_samples / 2 and a.n_samples + i == b.n_samples
        assert a.start_time == pytest.approx(b.start_time + i / b.fs, abs=1e-4)
        np.testing.assert_array_equal(a.data, b.data[i:])
    (iv,) = back.labels
    assert iv.label == "stress"
    assert iv.start == pytest.approx(rec.start_time + 4, abs=1e-3)
    assert iv.end == pytest.approx(rec.start_time + 16, abs=1e-3)


def test_record_command_until_sigterm(broker, excerpt, tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "rec"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectstream",
            "record",
            "--from",
            "mqtt",
            "--out",
            str(out),
            "--broker",
            f"127.0.0.1:{broker.port}",
            "--flush-s",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()  # said once subscribed
        assert line.startswith("recording from mqtt"), line
        rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 60)
        b = BrokerConfig(host="127.0.0.1", port=broker.port)
        asyncio.run(publish_mqtt(rec, b, "cli-rec", speed=0, modalities=MODS))
        time.sleep(2.0)
        assert len(list(out.glob("cli-rec_*.npz"))) == 1  # flushed while still running
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    (path,) = stdout.split()
    back = load_npz(path)
    for m in MODS:
        assert np.array_equal(back.signals[m].data, rec.signals[m].data)
