"""``affectstream bench cluster``: many devices over MQTT into NATS JetStream, served by 1, 2 and
3 cluster workers (``affectstream run`` with ``[cluster]``, separate processes), against the
plain daemon on mosquitto.

Every run plays the same devices: the bundled wrist excerpt, each device from its own offset,
published over MQTT 3.1.1 QoS 1 (``chunk_s`` seconds a message, three modalities), simulated
time ``speed`` times faster than the wall clock. A subscriber receives the predictions
(EMOTION's republish on ``affectstream.<device>.emotion``; MQTT ``affectstream/+/emotion`` for
the plain daemon). Measured:

- CPU seconds the serving processes spent per device-hop (their ``/proc`` times over the run,
  divided by the predictions received): the cluster worker against the plain daemon;
- devices one worker core serves in real time (``1 / CPU seconds per device-second``);
- end-to-end latency: from the publication of the first chunk (of each modality) whose data
  reaches the window's end to the record's arrival at the subscriber, p50 and p99. The DSP
  needs a few samples past the window's end, so this includes waiting for the next chunk (up to
  ``chunk_s / speed`` seconds); the plain daemon's figure, measured the same way, is the
  baseline;
- RAW's ingest rate on this machine (core NATS publishes into the stream, one leader), which
  bounds the devices one RAW stream can take.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.cluster.server import LocalNats
from affectstream.data.demo_recording import load_excerpt
from affectstream.tools.local_broker import LocalMosquitto

MODS = ["bvp", "eda", "temp"]


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _start(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "affectstream", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )


def _members(log: Path) -> int:
    """How many members a worker's last stats line saw."""
    text = log.read_text() if log.exists() else ""
    lines = [ln for ln in text.splitlines() if " stats {" in ln]
    return len(json.loads(lines[-1].split(" stats ", 1)[1])["members"]) if lines else 0


def _wait(cond: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def _play(
    port: int, devices: int, length_s: float, speed: float, chunk_s: float
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Publish every device's chunks on one paced schedule (all encoded first) over one MQTT
    connection; device -> modality -> ``(chunk end s, wall time published)``."""
    import aiomqtt

    from affectstream.stream.payload import encode_chunk, raw_topic
    from affectstream.stream.replay import replay_chunks

    rec = load_excerpt()
    t0 = rec.start_time
    plan: list[tuple[float, str, str, bytes]] = []
    for i in range(devices):
        dev = f"b{i:03d}"
        part = rec.slice_time(t0 + 7 * i, t0 + 7 * i + length_s)
        for ch in replay_chunks(part, MODS, chunk_s):
            payload = encode_chunk(ch.start_time, ch.fs, ch.channels, ch.seq, ch.samples)
            plan.append((ch.t_end, dev, ch.modality, payload))  # t_end: s from the start
    plan.sort(key=lambda x: x[0])
    sent: dict[str, dict[str, list[tuple[float, float]]]] = {}
    starts = _starts(devices)
    async with aiomqtt.Client("127.0.0.1", port) as c:
        wall0 = time.time()
        for rel, dev, mod, payload in plan:
            lag = wall0 + rel / speed - time.time()
            if lag > 0:
                await asyncio.sleep(lag)
            await c.publish(raw_topic(dev, mod), payload, qos=1)
            sent.setdefault(dev, {}).setdefault(mod, []).append((starts[dev] + rel, time.time()))
    return sent


def _latencies(
    got: list[tuple[float, dict[str, Any]]], sent: dict[str, dict[str, list[tuple[float, float]]]]
) -> np.ndarray:
    """Seconds from the publication of the chunk that completed each window (the last of its
    modalities to cover the window's end) to the record's arrival."""
    out = []
    for recv, r in got:
        if r.get("label") is None and "warmup_left_s" in r:
            continue
        when = []
        for chunks in sent.get(r["device"], {}).values():
            ends = [e for e in chunks if e[0] >= r["t"] - 1e-6]
            if ends:
                when.append(ends[0][1])
        if when:
            out.append(recv - max(when))
    return np.asarray(out)


def _starts(devices: int) -> dict[str, float]:
    t0 = load_excerpt().start_time
    return {f"b{i:03d}": t0 + 7 * i for i in range(devices)}


def _run_cluster(
    tmp: Path,
    workers: int,
    devices: int,
    length_s: float,
    speed: float,
    chunk_s: float,
    hop_s: float,
) -> dict[str, Any]:
    import nats

    srv = LocalNats(tmp / "nats").start()
    procs: list[subprocess.Popen[bytes]] = []
    got: list[tuple[float, dict[str, Any]]] = []
    try:
        for i in range(workers):
            cfg = tmp / f"w{i}.toml"
            cfg.write_text(
                f"hop_s = {hop_s}\ncalibrating_every_s = 0\nstate_save_s = 5.0\n"
                f'spool_dir = "memory"\nlog_interval_s = 1.0\n'
                f'[cluster]\nurl = "{srv.url}"\nname = "w{i}"\n'
                "partitions = 16\nmember_ttl_s = 6.0\npin_ttl_s = 6.0\nack_wait_s = 30.0\n"
            )
            procs.append(_start(cfg, tmp / f"w{i}.log"))
        logs = [tmp / f"w{i}.log" for i in range(workers)]
        _wait(lambda: all(_members(lg) == workers for lg in logs), 90)
        time.sleep(2)

        async def main() -> tuple[float, dict[str, dict[str, list[tuple[float, float]]]]]:
            nc = await nats.connect(srv.url)

            async def on(msg: Any) -> None:
                got.append((time.time(), json.loads(msg.data)))

            await nc.subscribe("affectstream.*.emotion", cb=on)
            cpu0 = sum(_cpu_s(p.pid) for p in procs)
            sent = await _play(srv.mqtt_port, devices, length_s, speed, chunk_s)
            n = -1
            while n != len(got):  # until nothing more arrives for 3 s
                n = len(got)
                await asyncio.sleep(3.0)
            cpu = sum(_cpu_s(p.pid) for p in procs) - cpu0
            await nc.close()
            return cpu, sent

        cpu, sent = asyncio.run(main())
    finally:
        _stop(procs)
        srv.stop()
    return _summary("cluster", workers, devices, length_s, got, cpu, sent, hop_s)


def _run_plain(
    tmp: Path, devices: int, length_s: float, speed: float, chunk_s: float, hop_s: float
) -> dict[str, Any]:
    import aiomqtt

    broker = LocalMosquitto(tmp).start()
    got: list[tuple[float, dict[str, Any]]] = []
    cfg = tmp / "plain.toml"
    cfg.write_text(
        f'hop_s = {hop_s}\ncalibrating_every_s = 0\nstate_dir = "none"\nspool_dir = "memory"\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        '[[source]]\nkind = "mqtt"\n[[sink]]\nkind = "mqtt"\n'
    )
    proc = _start(cfg, tmp / "plain.log")
    try:
        _wait(lambda: "connected to mqtt" in (tmp / "plain.log").read_text(), 60)
        time.sleep(1)

        async def main() -> tuple[float, dict[str, dict[str, list[tuple[float, float]]]]]:
            async with aiomqtt.Client("127.0.0.1", broker.port) as c:
                await c.subscribe("affectstream/+/emotion", qos=1)

                async def listen() -> None:
                    async for m in c.messages:
                        got.append((time.time(), json.loads(bytes(m.payload))))  # noqa: PERF401

                task = asyncio.create_task(listen())
                cpu0 = _cpu_s(proc.pid)
                sent = await _play(broker.port, devices, length_s, speed, chunk_s)
                n = -1
                while n != len(got):
                    n = len(got)
                    await asyncio.sleep(3.0)
                cpu = _cpu_s(proc.pid) - cpu0
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return cpu, sent

        cpu, sent = asyncio.run(main())
    finally:
        _stop([proc])
        broker.stop()
    return _summary("plain", 1, devices, length_s, got, cpu, sent, hop_s)


def _summary(
    kind: str,
    workers: int,
    devices: int,
    length_s: float,
    got: list[tuple[float, dict[str, Any]]],
    cpu: float,
    sent: dict[str, dict[str, list[tuple[float, float]]]],
    hop_s: float,
) -> dict[str, Any]:
    lat = _latencies(got, sent)
    predictions = len({(r["device"], r["t"]) for _, r in got})
    dev_s = devices * length_s
    # every hop of every device's data costs (its DSP, features, quality), predicted or not
    hops = int(dev_s / hop_s)
    return {
        "kind": kind,
        "workers": workers,
        "devices": devices,
        "device_hops": hops,
        "predictions": predictions,
        "received": len(got),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_device_hop": round(1e3 * cpu / max(hops, 1), 3),
        "devices_per_core_realtime": round(dev_s / max(cpu, 1e-9)),
        "e2e_p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 1) if len(lat) else None,
        "e2e_p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 1) if len(lat) else None,
    }


def _ingest_rate(tmp: Path, n: int = 50_000) -> dict[str, Any]:
    """Core-NATS publishes of 600-byte raw chunks into RAW, one stream leader: messages/s."""
    import nats

    from affectstream.cluster.config import ClusterConfig
    from affectstream.cluster.jetstream import ensure_stream, raw_stream_config

    srv = LocalNats(tmp / "nats-ingest").start()
    try:

        async def main() -> float:
            nc = await nats.connect(srv.url)
            await ensure_stream(nc, raw_stream_config(ClusterConfig(partitions=1024)))
            js = nc.jetstream()
            payload = b"x" * 600
            t = time.perf_counter()
            for i in range(n):
                await nc.publish(f"affectstream.d{i % 5000}.raw.bvp", payload)
                if i % 1000 == 999:
                    await nc.flush()
            while (await js.stream_info("RAW")).state.messages < n:
                await asyncio.sleep(0.05)
            dt = time.perf_counter() - t
            await nc.close()
            return n / dt

        rate = asyncio.run(main())
    finally:
        srv.stop()
    return {"messages": n, "msgs_per_s": round(rate)}


def run_cluster_bench(
    devices: int = 30,
    length_s: float = 360.0,
    speed: float = 5.0,
    workers: tuple[int, ...] = (1, 2, 3),
    chunk_s: float = 1.0,
    hop_s: float = 5.0,
) -> dict[str, Any]:
    """The runs described in the module docstring; a dict of their figures."""
    out: dict[str, Any] = {
        "plan": {
            "devices": devices,
            "length_s": length_s,
            "speed": speed,
            "chunk_s": chunk_s,
            "hop_s": hop_s,
        }
    }
    with tempfile.TemporaryDirectory(prefix="affectstream-bench-cluster-") as d:
        tmp = Path(d)
        out["plain"] = _run_plain(tmp / "plain", devices, length_s, speed, chunk_s, hop_s)
        out["cluster"] = []
        for w in workers:
            (tmp / f"c{w}").mkdir()
            out["cluster"].append(
                _run_cluster(tmp / f"c{w}", w, devices, length_s, speed, chunk_s, hop_s)
            )
        out["ingest"] = _ingest_rate(tmp)
    one = next((r for r in out["cluster"] if r["workers"] == 1), None)
    if one is not None and out["plain"]["cpu_ms_per_device_hop"]:
        out["cost_ratio_1_worker"] = round(
            one["cpu_ms_per_device_hop"] / out["plain"]["cpu_ms_per_device_hop"], 2
        )
    # the design's prediction for N machines: each real-time device sends 3 messages/s (1 s
    # chunks of bvp, eda, temp); one RAW leader takes what it took here
    rate = out["ingest"]["msgs_per_s"]
    out["prediction"] = {
        "raw_msgs_per_s_per_device": 3,
        "devices_per_raw_leader_at_half_load": int(rate * 0.5 / 3),
    }
    return out


def format_cluster_table(r: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_cluster_bench`'s figures."""
    p = r["plan"]
    lines = [
        f"cluster: {p['devices']} devices x {p['length_s']:g} s of data at {p['speed']:g}x "
        f"real time, {p['chunk_s']:g} s chunks, hop {p['hop_s']:g} s, MQTT QoS 1 in",
        f"{'run':<22}{'device-hops':>12}{'CPU ms/hop':>12}{'dev/core':>10}"
        f"{'e2e p50 ms':>12}{'e2e p99 ms':>12}",
    ]
    rows = [("plain daemon (mosquitto)", r["plain"])] + [
        (f"cluster, {c['workers']} worker(s)", c) for c in r["cluster"]
    ]
    for name, x in rows:
        lines.append(
            f"{name:<22}{x['device_hops']:>12}{x['cpu_ms_per_device_hop']:>12}"
            f"{x['devices_per_core_realtime']:>10}{x['e2e_p50_ms']!s:>12}{x['e2e_p99_ms']!s:>12}"
        )
    if "cost_ratio_1_worker" in r:
        lines.append(
            f"one cluster worker costs {r['cost_ratio_1_worker']}x the plain daemon per "
            "device-hop (acceptance: <= 1.5x)"
        )
    lines.append(
        f"RAW ingest, one stream leader here: {r['ingest']['msgs_per_s']} msgs/s -> about "
        f"{r['prediction']['devices_per_raw_leader_at_half_load']} real-time devices per RAW "
        "stream at half load (3 msgs/s each); beyond that, split RAW"
    )
    return "\n".join(lines)
