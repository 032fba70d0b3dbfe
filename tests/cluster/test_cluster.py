"""Three workers, sixty devices over MQTT: a fourth worker joins, one is killed with SIGKILL;
every device is served by one worker at a time, every (device, window end) is in EMOTION once,
and every device's predictions equal a single-process run of the same chunks."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

from affectstream.cluster.partitions import assignment
from affectstream.model.predictor import Predictor
from affectstream.stream.monitor import Monitor
from affectstream.stream.replay import replay_chunks
from tests.cluster.conftest import (
    CHUNK_S,
    HOP_S,
    MODS,
    P,
    device_recordings,
    emotion_records,
    publish_devices,
    wait_for,
)
from tests.stream.parity import PROB_TOL

N_DEVICES = 60
LENGTH_S = 420.0


def reference(recs) -> dict[str, dict[float, dict]]:
    """Each device's records from one uninterrupted monitor fed the same chunks."""
    mon = Monitor(Predictor("default"), hop_s=HOP_S)
    out: dict[str, dict[float, dict]] = {}
    for dev, rec in recs.items():
        out[dev] = {}
        for c in replay_chunks(rec, MODS, CHUNK_S):
            for r in mon.push(dev, c.modality, c.samples, start_time=c.start_time):
                out[dev][r["t"]] = r
    return out


def one_server_at_a_time(ws, ends: dict[str, float]) -> int:
    """Fails when two workers' logs show one device served at once; returns the moves."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for w in ws:
        for dev, ivs in w.serving(ends.get(w.name)).items():
            spans.setdefault(dev, []).extend((a, b, w.name) for a, b in ivs)
    moves = 0
    for dev, ivs in spans.items():
        ivs.sort()
        for (_, b, w1), (a, _, w2) in itertools.pairwise(ivs):
            assert a >= b, f"device {dev} served by {w1} until {b:.3f} and by {w2} from {a:.3f}"
            moves += 1
    return moves


def owned(w) -> set[int]:
    return set(w.stats().get("partitions", []))


def test_join_kill_exactly_once_and_parity(excerpt, nats_server, workers):
    ws = [workers(f"w{i}") for i in (1, 2, 3)]
    names = [w.name for w in ws]
    wait_for(lambda: all(len(w.stats().get("members", [])) == 3 for w in ws), 60, "3 members")
    recs = device_recordings(excerpt, N_DEVICES, LENGTH_S)
    pub = threading.Thread(
        target=lambda: asyncio.run(publish_devices(nats_server, recs, speed=15, concurrency=60))
    )
    pub.start()
    # ---- a fourth worker joins: it takes exactly its rendezvous share, about a quarter
    time.sleep(6)
    w4 = workers("w4")
    four = [*ws, w4]
    want4 = {p for p, m in assignment(P, [*names, "w4"]).items() if m == "w4"}
    wait_for(lambda: owned(w4) == want4, 30, "w4 to own its partitions")
    assert 2 <= len(want4) <= 7  # about a quarter of 16
    wait_for(lambda: all(not (owned(w) & want4) for w in ws), 30, "the others to let them go")
    # ---- one worker killed: its partitions move to the live ones within seconds
    wait_for(lambda: ws[0].stats().get("devices"), 30, "w1 to serve devices")
    time.sleep(4)
    victim = ws[0]
    lost = owned(victim)
    victim.kill9()
    killed_at = time.monotonic()
    killed_unix = time.time()
    alive = [ws[1], ws[2], w4]
    wait_for(
        lambda: set().union(*(owned(w) for w in alive)) == set(range(P)),
        30,
        "the survivors to own every partition",
    )
    moved_s = time.monotonic() - killed_at
    assert lost and moved_s < 30
    pub.join()
    # ---- everything published once, equal to the uninterrupted reference
    ref = reference(recs)
    n_ref = sum(len(v) for v in ref.values())
    wait_for(lambda: len(emotion_records(nats_server.url)) >= n_ref, 120, "every window", 2.0)
    time.sleep(2)
    got = emotion_records(nats_server.url)
    ids = [r["_id"] for r in got]
    assert len(ids) == len(set(ids)) == n_ref
    for r in got:
        want = ref[r["device"]][r["t"]]
        assert r["_id"] == f"{r['device']}:{r['t']!r}"
        assert r["label"] == want["label"], (r, want)
        for k, p in r["probs"].items():
            assert abs(p - want["probs"][k]) <= PROB_TOL, (r, want)
    assert any(r["label"] is not None for r in got)
    moves = one_server_at_a_time(four, {victim.name: killed_unix})
    assert moves >= 2  # devices did move (to the joiner, from the victim)
