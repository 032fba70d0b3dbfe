from __future__ import annotations

import asyncio
import json
import time

import aiomqtt

from affectstream.data import save_npz
from affectstream.stream.config import BrokerConfig, parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.replay_publish import publish_mqtt
from affectstream.stream.spool import DiskSpool
from tests.conftest import Broker


def test_disk_spool_keeps_order_across_restarts(tmp_path):
    sp = DiskSpool(tmp_path / "s", max_items=3)
    for i in range(5):
        sp.append(("t", f"m{i}".encode(), 1))
    assert sp.dropped == 2 and len(sp) == 3
    sp.pop()  # m2 delivered
    again = DiskSpool(tmp_path / "s", max_items=3)  # the daemon restarted
    assert [again.peek()[1]] == [b"m3"] and len(again) == 2
    again.pop()
    again.pop()
    assert len(DiskSpool(tmp_path / "s")) == 0


def test_broker_restart_mid_stream_loses_no_prediction(tmp_path, excerpt):
    broker = Broker(tmp_path, persistent=True)
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 900)
    save_npz(rec, tmp_path / "rec.npz")
    # samples come in over MQTT (device "wrist", replayed by a client that reconnects) and from
    # a local replay (device "local", which keeps predicting while the broker is away)
    cfg = parse_config(
        {
            "broker": {"host": "127.0.0.1", "port": broker.port},
            "spool_dir": str(tmp_path / "spool"),
            "source": [
                {"kind": "mqtt"},
                {
                    "kind": "replay",
                    "path": str(tmp_path / "rec.npz"),
                    "speed": 60,
                    "device": "local",
                },
            ],
            "sink": [{"kind": "mqtt"}],
        }
    )
    daemon = Daemon(cfg)
    received: dict[str, list[int]] = {"wrist": [], "local": []}
    timings: dict[str, float] = {}

    async def subscriber(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", broker.port, identifier="fault-sub", clean_session=False
                ) as c:
                    await c.subscribe("affectstream/+/emotion", qos=1)
                    async for m in c.messages:
                        doc = json.loads(m.payload)
                        received[doc["device"]].append(doc["seq"])
                        if stop.is_set():
                            return
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    async def main():
        stop_sub = asyncio.Event()
        sub = asyncio.create_task(subscriber(stop_sub))
        await asyncio.sleep(0.5)
        task = asyncio.create_task(daemon.run())
        while daemon.mqtt is None or not daemon.mqtt.connected.is_set():
            await asyncio.sleep(0.02)
        pub = asyncio.create_task(
            publish_mqtt(
                rec,
                BrokerConfig(host="127.0.0.1", port=broker.port),
                "wrist",
                speed=60,
                modalities=["bvp", "eda", "temp"],
            )
        )
        await asyncio.sleep(6.0)  # past the 300 s baseline: predictions are flowing
        broker.stop()
        await asyncio.sleep(2.0)  # predictions made now go to the spool
        broker.start()
        t_back = time.monotonic()
        while not daemon.mqtt.connected.is_set():
            await asyncio.sleep(0.02)
        timings["reconnect_s"] = time.monotonic() - t_back
        await pub
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            len(set(received[d])) < daemon.monitor._seq.get(d, 0) or not received[d]
            for d in received
        ):
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)
        stop_sub.set()
        sub.cancel()

    try:
        asyncio.run(main())
    finally:
        broker.stop()
    assert daemon.mqtt.counters["connects"] >= 2
    assert timings["reconnect_s"] < 5.0
    assert daemon.mqtt.counters["spooled"] > 0  # predictions were made while it was away
    for device, seqs in received.items():
        made = daemon.monitor._seq[device]
        assert made >= 30
        assert sorted(set(seqs)) == list(range(made)), device  # every prediction arrived
        assert seqs == sorted(seqs), device  # in order (QoS 1 may repeat one)


def test_a_full_ingest_queue_drops_samples_counted_never_predictions(excerpt):
    """A consumer too slow for its input: chunks beyond the bounded queue are dropped and counted;
    predictions are never dropped (sinks are awaited, the MQTT spool keeps what it cannot send)."""
    import numpy as np

    from affectstream.stream.daemon import ChunkEvent

    cfg = parse_config(
        {
            "queue_size": 5,
            "source": [{"kind": "mqtt"}],
            "sink": [{"kind": "jsonl", "path": "/dev/null"}],
        }
    )
    daemon = Daemon(cfg)

    async def main():
        for i in range(12):  # nobody is consuming: the processing task is not running
            daemon.offer(ChunkEvent("slow", "eda", np.ones((4, 1)), excerpt.start_time + i))

    asyncio.run(main())
    assert daemon.queue.qsize() == 5
    assert daemon.counters["samples_dropped_queue_full"] == 7 * 4


def test_sigterm_in_the_middle_of_inference_exits_cleanly(tmp_path, excerpt):
    import signal
    import subprocess
    import sys

    save_npz(excerpt, tmp_path / "rec.npz")
    out = tmp_path / "pred.jsonl"
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        f'hop_s = 1.0\n[[source]]\nkind = "replay"\npath = "{tmp_path / "rec.npz"}"\n'
        f'speed = 400\n[[sink]]\nkind = "jsonl"\npath = "{out}"\n'
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "affectstream", "run", "--config", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.05)  # predictions are flowing: the model is busy every hop
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "stopped; stats" in err
    lines = out.read_text().splitlines()
    assert lines and all(json.loads(ln)["device"] for ln in lines)  # no torn record


def test_a_stop_delivers_what_it_took_and_leaves_the_rest_with_the_broker(tmp_path, excerpt):
    """A daemon stopped while chunks pour in publishes every record it made before it
    disconnects (nothing left in its spool), and the chunks it had not taken are handed to the
    next daemon of the same persistent session: none is lost, none is taken twice."""
    from affectstream.stream.mqtt_link import all_messages, mqtt_session

    broker = Broker(tmp_path, extra="max_queued_messages 0\n")
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 900)
    mods = ["bvp", "eda", "temp"]
    devices = ["wrist-a", "wrist-b"]
    total = len(devices) * sum(rec.signals[m].data.shape[0] for m in mods)

    def daemon() -> Daemon:
        cfg = parse_config(
            {
                "state_dir": "none",
                "spool_dir": str(tmp_path / "spool"),
                "queue_size": 100_000,
                "broker": {
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "client_id": "stop-test",
                    "persistent_session": True,
                },
                "source": [{"kind": "mqtt"}],
                "sink": [{"kind": "mqtt"}],
            }
        )
        return Daemon(cfg)

    got: list[dict] = []

    async def subscribe(ready: asyncio.Event) -> None:
        client = aiomqtt.Client("127.0.0.1", broker.port, identifier="stop-test-sub")
        async with mqtt_session(client) as c:
            await c.subscribe("affectstream/+/emotion", qos=1)
            ready.set()
            async for msg in all_messages(c):
                got.append(json.loads(bytes(msg.payload)))  # noqa: PERF401 - read while it runs

    async def main() -> tuple[Daemon, Daemon, int]:
        ready = asyncio.Event()
        sub = asyncio.create_task(subscribe(ready))
        await asyncio.wait_for(ready.wait(), 10)
        first = daemon()
        run = asyncio.create_task(first.run())
        while first.mqtt is None or not first.mqtt.connected.is_set():
            await asyncio.sleep(0.01)
        b = BrokerConfig(host="127.0.0.1", port=broker.port)
        pub = asyncio.gather(*(publish_mqtt(rec, b, d, speed=0, modalities=mods) for d in devices))
        while first.counters["predictions_out"] < 3:  # mid-stream: chunks are queued
            await asyncio.sleep(0.01)
        first.stop.set()
        await asyncio.wait_for(run, 30)
        sent = sum(await pub)
        second = daemon()
        run = asyncio.create_task(second.run())
        deadline = time.monotonic() + 60
        while (
            first.counters["samples_in"] + second.counters["samples_in"] < total
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        second.stop.set()
        await asyncio.wait_for(run, 30)
        made = sum(
            d.counters["predictions_out"] + d.counters["calibrating_out"] for d in (first, second)
        )
        deadline = time.monotonic() + 10
        while len(got) < made and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        sub.cancel()
        await asyncio.gather(sub, return_exceptions=True)
        return first, second, sent

    try:
        first, second, sent = asyncio.run(main())
    finally:
        broker.stop()
    assert sent > 0
    made = first.counters["predictions_out"] + first.counters["calibrating_out"]
    assert first.counters["samples_in"] < total  # it was stopped mid-stream
    assert first.counters["samples_dropped_queue_full"] == 0
    assert first.mqtt is not None and first.mqtt.counters["published"] == made
    assert first.mqtt.counters["spooled"] == 0
    assert first.counters["samples_in"] + second.counters["samples_in"] == total
    keys = [(r["device"], r["t"], r["seq"]) for r in got]
    assert len(keys) == len(set(keys))
    assert (
        len(got) == made + second.counters["predictions_out"] + second.counters["calibrating_out"]
    )
