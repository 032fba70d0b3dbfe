"""One worker in cluster mode: devices over MQTT into RAW, predictions into EMOTION."""

from __future__ import annotations

import asyncio

from tests.cluster.conftest import device_recordings, emotion_records, publish_devices, wait_for


def test_one_worker_serves_devices_over_mqtt(excerpt, nats_server, workers):
    w = workers("solo")
    wait_for(lambda: "owns 16 partitions" in w.text(), 30, "the worker to own every partition")
    recs = device_recordings(excerpt, 3, 360)
    asyncio.run(publish_devices(nats_server, recs, speed=0))
    wait_for(lambda: len(emotion_records(nats_server.url)) >= 3 * 12, 60, "predictions", 1.0)
    recs_out = emotion_records(nats_server.url)
    assert {r["device"] for r in recs_out} == set(recs)
    ids = [r["_id"] for r in recs_out]
    assert len(ids) == len(set(ids))


def test_a_device_id_with_a_dot_is_refused_with_a_clear_line(nats_server, workers):
    import aiomqtt

    from affectstream.stream.payload import encode_chunk

    w = workers("dots")
    wait_for(lambda: "owns 16 partitions" in w.text(), 30, "the worker to own every partition")

    async def send() -> None:
        async with aiomqtt.Client("127.0.0.1", nats_server.mqtt_port) as c:
            await c.publish(
                "affectstream/e4.07/raw/eda", encode_chunk(0.0, 4.0, ["eda"], 0, [1.0] * 4), qos=1
            )

    asyncio.run(send())
    wait_for(lambda: "holds '.'" in w.text(), 30, "the refusal")
    line = next(ln for ln in w.text().splitlines() if "holds '.'" in ln)
    assert "'e4.07'" in line and "affectstream/e4-07/raw/eda" in line
    wait_for(lambda: w.stats().get("bad_device_id") == 1, 10, "the count")
