from __future__ import annotations

import asyncio
import os
import time
import uuid

from affectstream.model.predictor import Predictor
from affectstream.stream.config import parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.replay_publish import publish_lsl
from tests.stream.parity import assert_parity, offline_by_time, window_sink


def lsl_daemon(records: list[dict]) -> Daemon:
    cfg = parse_config(
        {
            "source": [{"kind": "lsl", "types": ["BVP", "EDA", "TEMP"], "max_buflen_s": 1200}],
            "sink": [{"kind": "jsonl", "path": "/dev/null"}],
        }
    )
    return Daemon(cfg, extra_sinks=[window_sink(records)])


def test_lsl_parity_two_devices(excerpt):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 480)
    pred = Predictor("default")
    offline = offline_by_time(pred, rec)
    records: list[dict] = []
    daemon = lsl_daemon(records)
    devices = [f"lsl-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]

    async def main():
        task = asyncio.create_task(daemon.run())
        await asyncio.gather(
            *(
                publish_lsl(
                    rec, d, speed=0, modalities=["bvp", "eda", "temp"], wait_for_consumers_s=20
                )
                for d in devices
            )
        )
        deadline = time.monotonic() + 30
        while len(records) < 2 * len(offline) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    for d in devices:
        mine = [r for r in records if r["device"] == d]
        assert len(mine) == len(offline)
        assert_parity(mine, offline, pred.classes)


def test_lsl_outlet_that_vanishes_and_returns(excerpt):
    rec = excerpt
    a = rec.slice_time(rec.start_time, rec.start_time + 420)
    b = rec.slice_time(rec.start_time + 480, rec.start_time + 720)
    records: list[dict] = []
    daemon = lsl_daemon(records)
    dev = f"lsl-{uuid.uuid4().hex[:6]}"

    async def main():
        task = asyncio.create_task(daemon.run())
        await publish_lsl(
            a, dev, speed=0, modalities=["bvp", "eda", "temp"], wait_for_consumers_s=20
        )
        await asyncio.sleep(1.0)  # the outlets are gone now
        await publish_lsl(
            b, dev, speed=0, modalities=["bvp", "eda", "temp"], wait_for_consumers_s=20
        )
        deadline = time.monotonic() + 20
        while (not records or records[-1]["t"] < b.end_time - 30) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    rel = [(r["t"] - rec.start_time, r["label"]) for r in records]
    assert daemon.counters["lsl_lost"] >= 1
    assert any(t <= 420 and lab is not None for t, lab in rel)  # before it vanished
    assert any(t >= 600 and lab is not None for t, lab in rel)  # after it came back
    assert all(lab is None for t, lab in rel if 427 <= t <= 533)  # the hole is abstained on


def test_lsl_sink_publishes_probabilities_and_labels(excerpt):
    import pylsl

    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 420)
    name = f"affect-{uuid.uuid4().hex[:6]}"
    # 40x real time: the first prediction comes 7.5 s in (after the baseline), time enough
    # for our inlet to connect (LSL gives a new inlet only what is pushed after it connects)
    cfg = parse_config(
        {
            "source": [
                {"kind": "replay", "path": str(_save(rec)), "speed": 40, "device": "sinkdev"}
            ],
            "sink": [{"kind": "lsl", "name": name}],
        }
    )
    records: list[dict] = []
    daemon = Daemon(cfg, extra_sinks=[window_sink(records)])
    got: dict[str, list] = {"probs": [], "labels": []}

    async def main():
        task = asyncio.create_task(daemon.run())
        # outlets appear with the first prediction; resolve them meanwhile
        infos = await asyncio.to_thread(pylsl.resolve_byprop, "name", f"{name}-labels", 1, 20)
        labels = pylsl.StreamInlet(infos[0])
        labels.open_stream(timeout=5)
        deadline = time.monotonic() + 30
        while len(records) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        got["labels"] = labels.pull_chunk(timeout=1.0)[0]
        prob_infos = await asyncio.to_thread(pylsl.resolve_byprop, "type", "Emotion", 1, 5)
        got["probs"] = [i for i in prob_infos if i.name() == f"{name}-sinkdev"]
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    assert got["probs"], "no Emotion stream for the device"
    info = got["probs"][0]
    assert info.channel_count() == 2 and info.nominal_srate() == pylsl.IRREGULAR_RATE
    assert got["labels"], "no label markers received"
    assert all(s[0].startswith("sinkdev:") for s in got["labels"])


def _save(rec):
    import tempfile

    from affectstream.data import save_npz

    fd, path = tempfile.mkstemp(suffix=".npz")
    os.close(fd)
    save_npz(rec, path)
    return path
