"""A worker handed a device's raw messages out of order (no server: RAW and EMOTION are faked):
messages of the device's other topics that the consumer delivers after newer ones are caught up
from RAW, not taken for applied ones, and the predictions equal an in-order run's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from affectstream.cluster import worker as worker_mod
from affectstream.cluster.worker import ClusterWorker
from affectstream.stream.config import parse_config
from affectstream.stream.payload import encode_chunk
from affectstream.stream.replay import replay_chunks
from tests.cluster.conftest import CHUNK_S, HOP_S, MODS
from tests.cluster.test_cluster import reference
from tests.stream.parity import PROB_TOL

DEV = "dev00"


class FakeMsg:
    def __init__(self, seq: int, subject: str, data: bytes) -> None:
        self.subject = subject
        self.data = data
        self.reply = f"$JS.ACK.RAW.affectstream-p0.1.{seq}.{seq}.0.0"
        self.headers = None

    async def ack(self) -> None:
        pass


class FakePublisher:
    def __init__(self) -> None:
        self.records: dict[float, dict[str, Any]] = {}

    async def publish(self, record: dict[str, Any]) -> None:
        self.records.setdefault(record["t"], record)  # EMOTION keeps the first (Nats-Msg-Id)


class FakeStore:
    async def load(self, device: str) -> None:
        return None

    def forget(self, device: str) -> None:
        pass


def test_older_messages_of_other_topics_delivered_late_are_caught_up(excerpt, monkeypatch):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 400)
    chunks = []  # (subject, payload) in the order the device publishes them
    for c in replay_chunks(rec, MODS, CHUNK_S):
        fs = c.fs if c.timestamps is None else 0.0
        payload = encode_chunk(c.start_time, fs, c.channels, c.seq, c.samples, c.timestamps)
        chunks.append((f"raw.0.{DEV}.{c.modality}", payload))
    # the server restarts after the device's temp chunk at 300 s was stored but before its
    # acknowledgement went out: the device publishes that chunk again (QoS 1), so RAW holds
    # it twice
    i = next(k for k, (subj, _) in enumerate(chunks) if k >= 180 and subj.endswith(".bvp"))
    assert chunks[i + 1][0].endswith(".eda") and chunks[i + 2][0].endswith(".temp")
    published = [*chunks[: i + 3], chunks[i + 2], *chunks[i + 3 :]]
    raw = [(s + 1, subj, data) for s, (subj, data) in enumerate(published)]

    async def fake_replay(nc, cc, device, first, last):
        for s, subject, data in raw:
            if first <= s <= last:
                yield s, subject, data

    monkeypatch.setattr(worker_mod, "replay", fake_replay)
    cfg = parse_config(
        {
            "hop_s": HOP_S,
            "calibrating_every_s": 0,
            "cluster": {"url": "nats://127.0.0.1:1", "partitions": 1, "name": "u1"},
        }
    )
    w = ClusterWorker(cfg)
    pub = FakePublisher()
    w.publisher = pub  # type: ignore[assignment]
    w.store = FakeStore()  # type: ignore[assignment]

    # the worker took the bvp chunk; the eda and temp ones after it were on their way to it
    # when the server went away (they are delivered again once their ack_wait is over); the
    # consumer goes on with the temp chunk's second copy and what follows
    order = [*raw[: i + 1], *raw[i + 3 :], *raw[i + 1 : i + 3]]

    async def run() -> None:
        for s, subject, data in order:
            await w._handle(0, FakeMsg(s, subject, data))

    asyncio.run(run())
    ref = reference({DEV: rec})[DEV]
    assert len(ref) > 10 and set(pub.records) == set(ref)
    assert w.counters["caught_up"] >= 1
    for t, r in pub.records.items():
        assert r["label"] == ref[t]["label"], (r, ref[t])
        for k, p in r["probs"].items():
            assert p == pytest.approx(ref[t]["probs"][k], abs=PROB_TOL), (r, ref[t])
