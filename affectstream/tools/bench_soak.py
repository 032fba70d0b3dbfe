"""``affectstream bench soak``: simulated hours of a daemon with many devices, churn and restarts.

A real ``affectstream run`` daemon (its own process) subscribes to a real mosquitto (its own
process, persistence on). This process plays ``devices`` wearables: each sends the bundled wrist
excerpt (looped, each from its own phase) in ``chunk_s`` chunks over MQTT QoS 1, simulated time
running ``speed`` times faster than the wall clock. Every ``churn_every_min`` simulated minutes
a share of the devices goes quiet (its state is evicted and saved once idle) and as many new
ids join; the quiet ones come back ``away_min`` later and resume from their saved state. The
broker is restarted every ``broker_every_min`` simulated minutes and the daemon once, in the
middle (SIGTERM: it saves every state; the restarted one restores them). A subscriber with a
persistent session counts what arrives.

Printed: the daemon's resident memory over simulated time, its growth after the warm-up within
each daemon run (medians of :data:`LEVEL_MIN` simulated minutes), the predictions made (the
daemons' own counters) against those published and received (distinct device and window end),
the samples sent against those the daemons took, and the restored calibrations.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.data.demo_recording import load_excerpt
from affectstream.stream.mqtt_link import all_messages, mqtt_session
from affectstream.stream.payload import encode_chunk, raw_topic
from affectstream.tools.local_broker import LocalMosquitto

MODALITIES = ("bvp", "eda", "temp")
#: Simulated clock origin (seconds, Unix time of the devices' samples).
T0 = 1_800_000_000.0
#: Simulated seconds before the first predictions can arrive (the warm-up plus a window).
WARMUP_S = 360.0
#: Most simulated seconds the devices' data may run ahead of the latest prediction received.
LEAD_S = 60.0
#: Simulated minutes of RSS readings whose median is a daemon run's level after its warm-up,
#: and at its end (one reading is as much the backlog of the moment as the daemon's memory).
LEVEL_MIN = 10.0
#: The daemons' counters of input they did not take (see :mod:`affectstream.stream.validate`).
INPUT_REFUSALS = (
    "out_of_order",
    "bad_chunks",
    "unknown_modality",
    "wrong_rate",
    "bad_device_id",
    "devices_refused",
    "bad_payloads",
    "bad_topics",
)


@dataclass
class SoakPlan:
    """What the soak runs (simulated minutes unless said otherwise)."""

    devices: int = 100
    sim_hours: float = 2.0
    speed: float = 40.0  #: simulated seconds per wall second
    chunk_s: float = 15.0  #: seconds of samples per message
    churn_every_min: float = 10.0
    churn_share: float = 0.1
    away_min: float = 20.0
    broker_every_min: float = 15.0
    model: str = "default"


class _Devices:
    """Which simulated wearables send now, their phases in the excerpt, churn."""

    def __init__(self, plan: SoakPlan, rng: np.random.Generator) -> None:
        rec = load_excerpt()
        self.data = {m: rec.signals[m].data[:, 0].astype(np.float64) for m in MODALITIES}
        self.fs = {m: rec.signals[m].fs for m in MODALITIES}
        self.duration = min(self.data[m].size / self.fs[m] for m in MODALITIES)
        self.rng = rng
        self.plan = plan
        self.next_id = 0
        self.phase: dict[str, float] = {}
        self.active: list[str] = [self._new() for _ in range(plan.devices)]
        self.away: list[tuple[float, str]] = []  #: (sim time it comes back, device)
        self.ids_seen = set(self.active)

    def _new(self) -> str:
        dev = f"wrist-{self.next_id:05d}"
        self.next_id += 1
        self.phase[dev] = float(self.rng.uniform(0, self.duration))
        return dev

    def churn(self, t: float) -> None:
        """Some devices go quiet and as many new ones join; those away long enough return, and
        as many others go quiet for them, so that ``plan.devices`` send at any time."""
        back = [d for when, d in self.away if when <= t]
        self.away = [(w, d) for w, d in self.away if w > t]
        n = max(1, int(round(self.plan.churn_share * self.plan.devices)))
        leave = list(self.rng.choice(self.active, size=n + len(back), replace=False))
        self.active += back
        self.active = [d for d in self.active if d not in leave]
        self.away += [(t + self.plan.away_min * 60, d) for d in leave]
        new = [self._new() for _ in range(n)]
        self.active += new
        self.ids_seen.update(new)

    def samples(self, m: str) -> int:
        """Samples in one chunk of modality ``m``."""
        return int(round(self.plan.chunk_s * self.fs[m]))

    def chunk(self, dev: str, m: str, t: float) -> bytes:
        """The payload of device ``dev``'s modality ``m`` for simulated ``[t, t + chunk_s)``."""
        fs = self.fs[m]
        n = self.samples(m)
        k0 = int(round((t + self.phase[dev]) * fs))
        x = self.data[m][np.arange(k0, k0 + n) % self.data[m].size]
        return encode_chunk(T0 + t, fs, [m], int(t // self.plan.chunk_s), x)


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _final_stats(log: Path) -> dict[str, Any]:
    """The counters of a daemon's ``stopped; stats {...}`` log line."""
    for line in reversed(log.read_text().splitlines()):
        if "stopped; stats " in line:
            return dict(ast.literal_eval(line.split("stopped; stats ", 1)[1]))
    raise RuntimeError(f"the daemon did not stop cleanly; see {log}")


class _Daemon:
    def __init__(self, cfg: Path, workdir: Path) -> None:
        self.cfg, self.workdir = cfg, workdir
        self.runs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> None:
        log = self.workdir / f"daemon-{len(self.runs)}.log"
        with open(log, "w") as fh:
            p = subprocess.Popen(
                [sys.executable, "-m", "affectstream", "run", "--config", str(self.cfg)],
                stderr=fh,
                stdout=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.runs.append((p, log))
        deadline = time.monotonic() + 60
        while "connected to mqtt" not in log.read_text():
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not start; see {log}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.runs[-1][0].pid

    def stop(self) -> dict[str, Any]:
        p, log = self.runs[-1]
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        return _final_stats(log)


async def _subscriber(
    port: int, got: dict[tuple[str, float], int], latest: list[float], stop: asyncio.Event
) -> None:
    """Count every prediction record; ``latest[0]``: the latest window end seen (simulated s)."""
    import aiomqtt

    while not stop.is_set():
        try:
            async with mqtt_session(
                aiomqtt.Client("127.0.0.1", port, identifier="soak-subscriber", clean_session=False)
            ) as c:
                await c.subscribe("affectstream/+/emotion", qos=1)
                async for msg in all_messages(c):
                    doc = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
                    key = (doc["device"], float(doc["t"]))
                    got[key] = got.get(key, 0) + 1
                    latest[0] = max(latest[0], key[1] - T0)
        except aiomqtt.MqttError:
            await asyncio.sleep(0.2)


async def _publish(port: int, queue: asyncio.Queue[tuple[str, bytes] | None]) -> int:
    """Publish what the queue holds (QoS 1), retrying a message until the broker takes it."""
    import aiomqtt

    sent = 0
    item = await queue.get()
    while item is not None:
        try:
            async with mqtt_session(
                aiomqtt.Client("127.0.0.1", port, identifier="soak-devices")
            ) as c:
                while item is not None:
                    await c.publish(item[0], item[1], qos=1)
                    sent += 1
                    item = await queue.get()
        except aiomqtt.MqttError:
            await asyncio.sleep(0.1)
    return sent


async def _soak(plan: SoakPlan, workdir: Path, out: dict[str, Any]) -> None:
    # a session's queue unbounded: the daemon's (persistent) while it restarts, the subscriber's
    broker = LocalMosquitto(workdir, persistent=True, extra="max_queued_messages 0\n").start()
    cfg = workdir / "monitor.toml"
    cfg.write_text(
        f'model = "{plan.model}"\nlog_interval_s = 3600\ncalibrating_every_s = 0\n'
        f"max_devices = {4 * plan.devices}\n"
        f"idle_timeout_s = {max(20.0, 40 * plan.chunk_s / plan.speed):g}\nresume_within_s = 3600\n"
        f'state_dir = "{workdir / "states"}"\nstate_save_s = 5\n'
        f'spool_dir = "{workdir / "spool"}"\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\nclient_id = "soak-daemon"\n'
        "persistent_session = true\n"
        '[[source]]\nkind = "mqtt"\n[[sink]]\nkind = "mqtt"\n'
    )
    daemon = _Daemon(cfg, workdir)
    got: dict[tuple[str, float], int] = {}
    stop_sub = asyncio.Event()
    latest = [float("-inf")]
    sub = asyncio.create_task(_subscriber(broker.port, got, latest, stop_sub))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(daemon.start)
    devices = _Devices(plan, np.random.default_rng(0))
    queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(maxsize=2000)
    pub = asyncio.create_task(_publish(broker.port, queue))
    rss: list[tuple[float, int, float]] = []  # (sim minutes, daemon run, MB)
    stats: list[dict[str, Any]] = []
    end = plan.sim_hours * 3600
    next_churn = plan.churn_every_min * 60
    next_broker = plan.broker_every_min * 60
    restarted = False
    broker_restarts = 0
    samples_sent = 0
    wall0 = time.perf_counter()
    t = 0.0
    while t < end:
        if t >= next_churn:
            devices.churn(t)
            next_churn += plan.churn_every_min * 60
        if t >= next_broker:
            await asyncio.to_thread(broker.restart)
            broker_restarts += 1
            next_broker += plan.broker_every_min * 60
        if not restarted and t >= end / 2:
            while not queue.empty():
                await asyncio.sleep(0.01)
            stats.append(await asyncio.to_thread(daemon.stop))
            await asyncio.to_thread(daemon.start)
            restarted = True
        for dev in devices.active:
            for m in MODALITIES:
                await queue.put((raw_topic(dev, m), devices.chunk(dev, m, t)))
                samples_sent += devices.samples(m)
        r = _rss_mb(daemon.pid)
        if r is not None:
            rss.append((t / 60, len(daemon.runs) - 1, r))
        t += plan.chunk_s
        ahead = t / plan.speed - (time.perf_counter() - wall0)
        if ahead > 0:
            await asyncio.sleep(ahead)
        # closed loop: no more than LEAD_S of data ahead of the daemon's latest prediction (a
        # soak measures what holds up, not a broker's queue); never wait more than 30 s
        waited = time.monotonic()
        while t > WARMUP_S + LEAD_S and latest[0] < t - LEAD_S and time.monotonic() - waited < 30:
            await asyncio.sleep(0.02)
    await queue.put(None)
    sent = await pub
    # the daemon takes what the broker still holds for it: wait for the last chunks' windows,
    # then for a quiet spell (the other devices' last windows, idle evictions)
    deadline = time.monotonic() + 120
    while latest[0] < end - 2 * plan.chunk_s and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    n_got = -1
    while n_got != len(got) and time.monotonic() < deadline:
        n_got = len(got)
        await asyncio.sleep(max(3.0, 8 * plan.chunk_s / plan.speed))
    stats.append(await asyncio.to_thread(daemon.stop))
    made = sum(int(s.get("predictions_out", 0)) for s in stats)
    deadline = time.monotonic() + 30
    while len(got) < made and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop_sub.set()
    sub.cancel()
    await asyncio.gather(sub, return_exceptions=True)
    broker.stop()
    out.update(
        wall_s=round(time.perf_counter() - wall0, 1),
        messages_published=sent,
        device_ids=len(devices.ids_seen),
        broker_restarts=broker_restarts,
        daemon_restarts=len(daemon.runs) - 1,
        predictions_made=made,
        predictions_received=len(got),
        predictions_repeated=sum(n - 1 for n in got.values()),
        predictions_lost=max(0, made - len(got)),
        restored=sum(int(s.get("devices_restored", 0)) for s in stats),
        evicted=sum(int(s.get("devices_evicted", 0)) for s in stats),
        states_saved=sum(int(s.get("states_saved", 0)) for s in stats),
        samples_sent=samples_sent,
        samples_in=sum(int(s.get("samples_in", 0)) for s in stats),
        samples_in_by_run=[int(s.get("samples_in", 0)) for s in stats],
        left_in_spool=_spooled_on_disk(workdir / "spool"),
        samples_dropped=sum(int(s.get("samples_dropped_queue_full", 0)) for s in stats),
        sink_errors=sum(int(s.get("sink_errors", 0)) for s in stats),
        published=sum(int(s.get("mqtt", {}).get("published", 0)) for s in stats),
        spooled=sum(int(s.get("mqtt", {}).get("spooled", 0)) for s in stats),
        spool_dropped=sum(int(s.get("mqtt", {}).get("spool_dropped", 0)) for s in stats),
        rss=rss,
        input_noted={
            k: n
            for k in ("gaps", "time_jumps", "seq_restarts")
            if (n := sum(int(s.get(k, 0)) for s in stats))
        },
        input_refused={k: n for k in INPUT_REFUSALS if (n := sum(int(s.get(k, 0)) for s in stats))},
    )


def _spooled_on_disk(directory: Path) -> int:
    """Messages a stopped daemon left in its disk spool (delivered after its next start)."""
    from affectstream.stream.spool import DiskSpool

    return len(DiskSpool(directory)) if directory.is_dir() else 0


def _growth(rss: list[tuple[float, int, float]], warm_min: float) -> list[dict[str, float]]:
    """Per daemon run: its RSS level once warmed up (the median over the :data:`LEVEL_MIN`
    simulated minutes from ``warm_min`` into the run) and at its end (the median over its last
    :data:`LEVEL_MIN` minutes), the growth between them, and the highest reading after the
    warm-up."""
    out = []
    for run in sorted({r for _, r, _ in rss}):
        pts = [(m, mb) for m, r, mb in rss if r == run]
        start, stop = pts[0][0] + warm_min, pts[-1][0]
        if stop - start < 2 * LEVEL_MIN:
            continue
        a = float(np.median([mb for m, mb in pts if start <= m < start + LEVEL_MIN]))
        b = float(np.median([mb for m, mb in pts if m > stop - LEVEL_MIN]))
        peak = max(mb for m, mb in pts if m >= start)
        out.append({"run": run, "warm_mb": a, "end_mb": b, "growth": (b - a) / a, "peak_mb": peak})
    return out


def run_soak_bench(plan: SoakPlan | None = None) -> dict[str, Any]:
    """Run the soak; returns its figures (see :func:`format_soak_table`)."""
    plan = plan or SoakPlan()
    out: dict[str, Any] = {"plan": asdict(plan)}
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_soak(plan, Path(tmp), out))
    out["rss_growth"] = _growth(out["rss"], warm_min=20.0)
    return out


def format_soak_table(r: dict[str, Any]) -> str:
    """Text tables of :func:`run_soak_bench`."""
    p = r["plan"]
    lines = [
        f"soak: {p['devices']} devices at a time ({r['device_ids']} ids over the run), "
        f"{p['sim_hours']:g} simulated hours at {p['speed']:g}x real time in {r['wall_s']} s; "
        f"{r['broker_restarts']} broker restarts, {r['daemon_restarts']} daemon restart(s)",
        "",
        "| simulated min | daemon run | RSS MB |",
        "| --- | --- | --- |",
    ]
    step = max(1, len(r["rss"]) // 12)
    lines += [f"| {m:.0f} | {run} | {mb:.1f} |" for m, run, mb in r["rss"][::step]]
    lines += [
        "",
        f"| daemon run | RSS after warm-up MB (median of {LEVEL_MIN:g} min) | at its end MB "
        f"(median of its last {LEVEL_MIN:g} min) | growth | highest after warm-up MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {g['run']} | {g['warm_mb']:.1f} | {g['end_mb']:.1f} | {g['growth']:+.1%} "
        f"| {g['peak_mb']:.1f} |"
        for g in r["rss_growth"]
    ]
    lines += [
        "",
        f"predictions made {r['predictions_made']}, received {r['predictions_received']} "
        f"(lost {r['predictions_lost']}, repeated by QoS 1 {r['predictions_repeated']}); "
        f"states saved {r['states_saved']}, devices evicted {r['evicted']}, calibrations "
        f"restored {r['restored']}",
        f"samples sent {r.get('samples_sent', '?')}, taken by the daemons {r['samples_in']} "
        f"({' + '.join(map(str, r.get('samples_in_by_run', [])))})"
        f"(dropped on a full queue {r['samples_dropped']}); input refused "
        f"{r.get('input_refused') or 'none'}; noted {r.get('input_noted') or 'nothing'}",
        f"the daemons published {r.get('published', '?')} (spooled while the broker was away "
        f"{r.get('spooled', '?')}, spool dropped {r.get('spool_dropped', '?')}, sink errors "
        f"{r.get('sink_errors', '?')}); left in the spool at the end "
        f"{r.get('left_in_spool', '?')}",
    ]
    return "\n".join(lines)


__all__ = ["SoakPlan", "format_soak_table", "run_soak_bench"]
