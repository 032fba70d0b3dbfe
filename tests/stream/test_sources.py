"""The sources' common contract: one validator, the same aliases and counters on every source,
warm-up records, warnings rate-limited per device and kind, clocks named in every record."""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import pytest

from affectstream.stream.config import parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.events import ChunkEvent
from affectstream.stream.lsl_source import LslSource
from affectstream.stream.mqtt_source import MqttSource
from affectstream.stream.payload import encode_chunk
from affectstream.stream.problems import Problems
from affectstream.stream.replay_source import ReplaySource
from affectstream.stream.sinks import CallbackSink
from affectstream.stream.source import Source
from affectstream.stream.validate import ChunkValidator

RATES = {"bvp": 64.0, "eda": 4.0, "temp": 4.0}


def test_every_source_implements_the_protocol():
    p = Problems()
    assert isinstance(MqttSource(["affectstream/+/raw/+"], p), Source)
    assert isinstance(LslSource(["bvp"], p), Source)
    assert isinstance(ReplaySource("x.npz", ["bvp"]), Source)


def _save(rec, tmp_path):
    from affectstream.data import save_npz

    path = tmp_path / "rec.npz"
    save_npz(rec, path)
    return str(path)


def test_warmup_sends_rate_limited_calibrating_records(excerpt, tmp_path):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 390)
    cfg = parse_config(
        {
            "source": [
                {"kind": "replay", "path": _save(rec, tmp_path), "speed": 0, "device": "warm"}
            ],
            "sink": [{"kind": "jsonl", "path": str(tmp_path / "out.jsonl")}],
        }
    )
    records: list[dict] = []
    daemon = Daemon(cfg, extra_sinks=[CallbackSink(records.append)])

    async def main():
        task = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 30
        while not any(r["label"] for r in records) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    first = next(i for i, r in enumerate(records) if r["label"] is not None)
    warm = records[:first]
    assert len(warm) >= 9  # 300 s of warm-up, one record per 30 s of data
    assert all(r["reason"] == "calibrating" and r["label"] is None for r in warm)
    assert all(r["clock"] == "recording" for r in records)
    t = np.array([r["t"] for r in warm])
    assert t[0] - rec.start_time < 5  # the first arrives with the first data
    assert np.all(np.diff(t) >= 30)  # rate-limited on the device's data time
    left = [r["warmup_left_s"] for r in warm]
    assert left == sorted(left, reverse=True) and left[-1] > 0
    assert "warmup_left_s" not in records[first]
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert sum('"calibrating"' in ln for ln in lines) == len(warm)  # they reach every sink
    assert daemon.counters["calibrating_out"] == len(warm)


def test_two_bad_devices_are_both_logged(caplog):
    problems = Problems()
    src = MqttSource(["affectstream/+/raw/+"], problems)

    async def main():
        async def emit(ev):
            return True

        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop, emit))
        await asyncio.sleep(0)
        for _ in range(50):
            await src.handle("affectstream/first/raw/bvp", b"{not json")
        await src.handle("affectstream/second/raw/bvp", b"{not json")
        task.cancel()  # the MQTT source binds emit until cancelled
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="affectstream.daemon"):
        asyncio.run(main())
    msgs = [r.getMessage() for r in caplog.records]
    assert problems.counters["bad_payloads"] == 51
    assert sum("from first" in m for m in msgs) == 5  # the first five, then rate-limited
    assert any("affectstream/second/raw/bvp" in m and "from second" in m for m in msgs)
    assert problems.by_device["second"]["bad_payloads"] == 1


def test_modality_aliases_and_counters_are_the_same_on_every_source():
    """An EDA chunk sent as `gsr` over MQTT is taken as EDA, as LSL takes a GSR stream; the
    validator's counters and messages are those of every source."""
    problems = Problems()
    v = ChunkValidator(RATES, dict.fromkeys(RATES, 1), problems)
    got: list[ChunkEvent] = []
    src = MqttSource(["affectstream/+/raw/+"], problems)

    async def main():
        async def emit(ev):
            ok = v.check(ev)
            if ok is not None:
                got.append(ok)
            return ok is not None

        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop, emit))
        await asyncio.sleep(0)
        for seq, topic in enumerate(["affectstream/w/raw/gsr", "affectstream/w/raw/GSR"]):
            await src.handle(topic, encode_chunk(1e9 + seq, 4.0, ["gsr"], 0, np.ones(4)))
        await src.handle("affectstream/w/raw/ppg", encode_chunk(1e9, 64.0, ["ppg"], 0, np.ones(8)))
        # one counter per topic: +1 per message there, a jump on it is a gap
        await src.handle("affectstream/w/raw/temp", encode_chunk(1e9, 4.0, ["t"], 0, np.ones(4)))
        await src.handle(
            "affectstream/w/raw/temp", encode_chunk(1e9 + 1, 4.0, ["t"], 3, np.ones(4))
        )
        await src.handle(
            "affectstream/w/raw/temp", encode_chunk(1e9 + 2, 8.0, ["t"], 4, np.ones(8))
        )
        task.cancel()  # the MQTT source binds emit until cancelled
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert [e.modality for e in got] == ["eda", "eda", "bvp", "temp", "temp"]
    assert problems.counters["gaps"] == 1 and problems.counters["wrong_rate"] == 1
    assert problems.counters["samples_in"] == 4 + 4 + 8 + 4 + 4
    # the same chunk from an LSL stream: the same check, the same counter
    lsl = ChunkEvent("w", "Temperature", np.ones((8, 1)), 1e9, fs=8.0, stream="LSL 't'")
    assert v.check(lsl) is None and problems.counters["wrong_rate"] == 2


def test_device_id_with_a_slash_is_refused_with_a_message(broker, caplog):
    import aiomqtt

    cfg = parse_config(
        {
            "broker": {"host": "127.0.0.1", "port": broker.port},
            "spool_dir": "memory",
            "source": [{"kind": "mqtt"}],
            "sink": [{"kind": "jsonl", "path": "/dev/null"}],
        }
    )
    daemon = Daemon(cfg)

    async def main():
        task = asyncio.create_task(daemon.run())
        while daemon.mqtt is None or not daemon.mqtt.connected.is_set():
            await asyncio.sleep(0.02)
        async with aiomqtt.Client("127.0.0.1", broker.port) as c:
            payload = encode_chunk(1e9, 64.0, ["bvp"], 0, np.ones(8))
            await c.publish("affectstream/ward3/bed2/raw/bvp", payload, qos=1)
        deadline = time.monotonic() + 10
        while daemon.counters["bad_topics"] == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    with caplog.at_level(logging.WARNING, logger="affectstream.daemon"):
        asyncio.run(main())
    assert daemon.counters["bad_topics"] == 1
    msg = next(r.getMessage() for r in caplog.records if "bad_topics" in r.getMessage())
    assert "'ward3/bed2'" in msg and "affectstream/ward3-bed2/raw/bvp" in msg


def test_a_chunk_continuing_its_stream_gets_its_counted_start():
    """LSL chunks that continue their stream carry no start time; the validator counts it on,
    so one lost later (a full queue) leaves a gap instead of shifting what follows."""
    problems = Problems()
    v = ChunkValidator(RATES, dict.fromkeys(RATES, 1), problems)
    assert v.check(ChunkEvent("d", "eda", np.ones((4, 1)), None, fs=4.0, stream="s")) is None
    assert problems.counters["bad_chunks"] == 1  # the first chunk must say when it starts
    first = v.check(ChunkEvent("d", "eda", np.ones((4, 1)), 100.0, fs=4.0, stream="s"))
    nxt = v.check(ChunkEvent("d", "eda", np.ones((6, 1)), None, fs=4.0, stream="s"))
    after = v.check(ChunkEvent("d", "eda", np.ones((2, 1)), None, fs=4.0, stream="s"))
    assert first is not None and nxt is not None and after is not None
    assert (nxt.start_time, after.start_time) == (101.0, 102.5)


def test_lsl_source_types_take_cases_aliases_and_generic_types():
    from affectstream.stream.config import ConfigError

    cfg = parse_config({"source": [{"kind": "lsl", "types": ["gsr", "Ppg", "temperature", "bio"]}]})
    assert cfg.sources[0].types == ["gsr", "Ppg", "temperature", "bio"]
    with pytest.raises(ConfigError, match=r"source\[0\]\.types: \['EMG'\] name no modality"):
        parse_config({"source": [{"kind": "lsl", "types": ["EMG"]}]})


def test_replayed_times_are_unix_time(excerpt, tmp_path):
    """A file that says when it was recorded keeps its times; one whose times count from its
    start is placed at the replay's start, by whole seconds (the grid phase is kept)."""
    import dataclasses

    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 3)
    rel = dataclasses.replace(
        rec,
        signals={
            m: dataclasses.replace(s, start_time=s.start_time - rec.start_time + 0.25)
            for m, s in rec.signals.items()
        },
    )
    got: dict[str, list[ChunkEvent]] = {"abs": [], "rel": []}
    for name, r in (("abs", rec), ("rel", rel)):
        src = ReplaySource(_save(r, tmp_path), ["bvp", "eda", "temp"], speed=0, device=name)

        async def emit(ev, name=name):
            got[name].append(ev)
            return True

        asyncio.run(src.run(asyncio.Event(), emit))
    assert got["abs"][0].start_time == rec.start_time and got["abs"][0].clock == "recording"
    ev = got["rel"][0]
    assert ev.clock == "replay" and abs(ev.start_time - time.time()) < 60
    assert ev.start_time % 1.0 == 0.25  # shifted by whole seconds
