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
