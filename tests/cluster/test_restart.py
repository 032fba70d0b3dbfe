"""The nats-server restarts while workers have predictions to publish and raw messages to
take: nothing is lost (the spool holds predictions, RAW and the consumers keep the rest) and
nothing is doubled."""

from __future__ import annotations

import asyncio

from tests.cluster.conftest import device_recordings, emotion_records, publish_devices, wait_for
from tests.cluster.test_cluster import reference
from tests.stream.parity import PROB_TOL


def test_nats_server_restart_loses_nothing(excerpt, nats_server, workers):
    ws = [workers("r1"), workers("r2")]
    wait_for(lambda: all(len(w.stats().get("members", [])) == 2 for w in ws), 60, "2 members")
    recs = device_recordings(excerpt, 12, 400)
    first = {d: r.slice_time(r.start_time, r.start_time + 330) for d, r in recs.items()}
    rest = {d: r.slice_time(r.start_time + 330, r.end_time) for d, r in recs.items()}
    asyncio.run(publish_devices(nats_server, first, speed=0))
    wait_for(lambda: any(w.stats().get("predictions_out") for w in ws), 60, "predictions")
    nats_server.restart(down_s=2.0)  # while the workers still work through RAW
    wait_for(lambda: all("spool" in w.stats().get("emotion", {}) for w in ws), 30, "workers' stats")
    asyncio.run(publish_devices(nats_server, rest, speed=0))
    ref = reference(recs)
    n_ref = sum(len(v) for v in ref.values())
    wait_for(lambda: len(emotion_records(nats_server.url)) >= n_ref, 120, "every window", 2.0)
    got = emotion_records(nats_server.url)
    ids = [r["_id"] for r in got]
    assert len(ids) == len(set(ids)) == n_ref
    for r in got:
        want = ref[r["device"]][r["t"]]
        assert r["label"] == want["label"], (r, want)
        for k, p in r["probs"].items():
            assert abs(p - want["probs"][k]) <= PROB_TOL, (r, want)
    # whatever was spooled while the server was away has been delivered
    wait_for(lambda: all(w.stats()["emotion"]["spool"] == 0 for w in ws), 10, "empty spools")
