"""A daemon that runs for months: a bounded device table and calibration kept across a kill."""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from affectstream.model.predictor import Predictor
from affectstream.stream.config import BrokerConfig, parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.monitor import Monitor
from affectstream.stream.payload import encode_chunk, raw_topic
from affectstream.stream.replay import replay_chunks
from affectstream.stream.replay_publish import publish_mqtt
from tests.stream.parity import PROB_TOL, window_sink
from tests.stream.test_daemon_mqtt import daemon_connected

MODS = ["bvp", "eda", "temp"]
QUIET_S, BACK_S, END_S = 608.0, 700.0, 1000.0  # see tests/stream/test_device_store.py


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_daemon(cfg: Path, log: Path) -> subprocess.Popen:
    fh = open(log, "w")  # noqa: SIM115 - the daemon's stderr, read by the test while it runs
    return subprocess.Popen(
        [sys.executable, "-m", "affectstream", "run", "--config", str(cfg)],
        stderr=fh,
        stdout=subprocess.DEVNULL,
    )


def records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    return [r for r in out if "warmup_left_s" not in r]


def test_sigkill_then_restart_resumes_the_calibrated_person(broker, excerpt, tmp_path):
    rec, t0 = excerpt, excerpt.start_time
    before = rec.slice_time(t0, t0 + QUIET_S)
    after = rec.slice_time(t0 + BACK_S, t0 + END_S)
    state = tmp_path / "state"

    def config(out: Path) -> Path:
        p = tmp_path / f"{out.stem}.toml"
        p.write_text(
            f'state_dir = "{state}"\nstate_save_s = 0.2\nspool_dir = "memory"\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n'
            f'[[source]]\nkind = "mqtt"\n[[sink]]\nkind = "jsonl"\npath = "{out}"\n'
        )
        return p

    bc = BrokerConfig(host="127.0.0.1", port=broker.port)
    out1, out2 = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    log1, log2 = tmp_path / "first.log", tmp_path / "second.log"
    d1 = start_daemon(config(out1), log1)
    try:
        wait_for(lambda: "connected to mqtt" in log1.read_text(), 30, "the first daemon")
        time.sleep(0.5)
        asyncio.run(publish_mqtt(before, bc, "wrist", speed=0, modalities=MODS))
        saved = state / "wrist.state.json"

        def saved_through_the_quiet() -> bool:
            try:
                doc = json.loads(saved.read_text())
            except (OSError, ValueError):
                return False
            return doc["last_frame_s"] >= t0 + QUIET_S - 1.0

        wait_for(saved_through_the_quiet, 30, "the saved state of the last frames")
        assert records(out1)[-1]["label"] is not None  # calibrated and predicting
    finally:
        d1.send_signal(signal.SIGKILL)
        d1.wait(10)
    d2 = start_daemon(config(out2), log2)
    try:
        wait_for(lambda: "connected to mqtt" in log2.read_text(), 30, "the second daemon")
        time.sleep(0.5)
        asyncio.run(publish_mqtt(after, bc, "wrist", speed=0, modalities=MODS))
        last_end = t0 + END_S - 15
        wait_for(lambda: any(r["t"] >= last_end for r in records(out2)), 30, "the last window")
    finally:
        d2.send_signal(signal.SIGTERM)
        d2.wait(20)
    assert "resumed from its saved state" in log2.read_text()

    # the uninterrupted reference: one monitor fed the same chunks, quiet included
    mon = Monitor(Predictor("default"), warmup_every_s=None)
    ref: dict[float, dict] = {}
    for part in (before, after):
        for c in replay_chunks(part, MODS, 1.0):
            for r in mon.push("wrist", c.modality, c.samples, start_time=c.start_time):
                ref[r["t"]] = r
    got = records(out2)
    predicted = [r for r in got if r["label"] is not None]
    assert predicted[0]["t"] <= t0 + BACK_S + 60 + 15  # one window after the data resumes
    for r in got:
        assert r["label"] == ref[r["t"]]["label"], r
        if r["label"] is not None:
            for c, p in r["probs"].items():
                assert abs(p - ref[r["t"]]["probs"][c]) <= PROB_TOL


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_ten_thousand_random_device_ids_are_refused_not_remembered(broker, excerpt, tmp_path):
    import aiomqtt

    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 500)
    kept: list[dict] = []
    cfg = parse_config(
        {
            "max_devices": 100,
            "state_dir": str(tmp_path / "state"),
            "spool_dir": "memory",
            "calibrating_every_s": 0,
            "broker": {"host": "127.0.0.1", "port": broker.port},
            "source": [{"kind": "mqtt"}],
            "sink": [{"kind": "mqtt"}],
        }
    )
    daemon = Daemon(cfg, extra_sinks=[window_sink(kept)])
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_"
    eda = encode_chunk(0.0, 4.0, ["eda"], 0, np.full(4, 1.0))
    rss: list[float] = []

    async def flood() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as c:
            for i in range(10_000):
                dev = "".join(rng.choice(alphabet) for _ in range(12))
                await c.publish(raw_topic(dev, "eda"), eda, qos=0)
                if i % 1000 == 999:
                    while daemon.queue.qsize() or daemon.counters["samples_in"] < 4 * 100:
                        await asyncio.sleep(0.01)
                    rss.append(rss_mb())

    async def main() -> None:
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon_connected(daemon), 10)
        bc = BrokerConfig(host="127.0.0.1", port=broker.port)
        good = asyncio.create_task(publish_mqtt(rec, bc, "good", speed=0, modalities=MODS))
        await asyncio.sleep(0.5)  # the good device is known before the flood
        await flood()
        await good
        deadline = time.monotonic() + 60
        while (not kept or kept[-1]["t"] < rec.end_time - 20) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the last random chunks are handled
        daemon.stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(main())
    refused = daemon.problems.counters["devices_refused"]
    assert len(daemon.monitor.devices) <= 100 and "good" in daemon.monitor.devices
    assert refused >= 10_000 - 100  # every id beyond the limit, counted
    assert len(daemon.problems.by_device) <= 1 + 100  # no per-id entry for refused ones
    assert len(daemon.validator._seq) <= 3 * 100
    good_preds = [r for r in kept if r["device"] == "good" and r["label"] is not None]
    assert len(good_preds) >= (500 - 300 - 60) // 15  # the good device kept getting answers
    # memory: what 9,000 more ids add is far below one device state each (~100 KB)
    assert rss[-1] - rss[0] < 25, rss
