"""Benchmark of the whole live path over loopback MQTT.

A real ``affectstream run`` daemon (a separate process) subscribes to a real mosquitto; this
process publishes one E4-like device's samples in 1 s chunks and subscribes to the predictions.
For each hop it records the time from publishing the chunk that completes the window (its
publish call returning, QoS 1 acknowledged) to the prediction reaching the subscriber, then
publishes the next hop (closed loop: no backlog in the figure).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.dsp.calibration import warmup_s
from affectstream.stream.payload import emotion_topic, encode_chunk, raw_topic
from affectstream.tools.local_broker import LocalMosquitto


def _signals(seconds: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t64 = np.arange(seconds * 64) / 64
    t4 = np.arange(seconds * 4) / 4
    return {
        "bvp": 50 * np.sin(2 * np.pi * 1.2 * t64) + 5 * rng.standard_normal(t64.size),
        "eda": 2 + 0.05 * np.sin(2 * np.pi * t4 / 60) + 0.01 * rng.standard_normal(t4.size),
        "temp": 33 + 0.01 * rng.standard_normal(t4.size),
    }


async def _measure(port: int, hops: int, model_baseline_s: float) -> list[float]:
    import aiomqtt

    rng = np.random.default_rng(0)
    total = int(model_baseline_s) + 60 + hops + 5
    sig = _signals(total, rng)
    fs = {"bvp": 64, "eda": 4, "temp": 4}
    t0 = 1.7e9
    device = "bench"
    lat: list[float] = []
    got: asyncio.Queue[float] = asyncio.Queue()
    from affectstream.stream.mqtt_link import SOCKET_OPTIONS

    async with (
        aiomqtt.Client("127.0.0.1", port, socket_options=SOCKET_OPTIONS) as sub,
        aiomqtt.Client("127.0.0.1", port, socket_options=SOCKET_OPTIONS) as pub,
    ):
        await sub.subscribe(emotion_topic(device), qos=1)

        async def listen() -> None:
            async for _ in sub.messages:
                got.put_nowait(time.perf_counter())

        task = asyncio.create_task(listen())

        async def pub_chunk(m: str, sec: int) -> None:
            x = sig[m][sec * fs[m] : (sec + 1) * fs[m]]
            await pub.publish(
                raw_topic(device, m), encode_chunk(t0 + sec, fs[m], [m], sec, x), qos=1
            )

        async def send(sec: int) -> float:
            # A frame at time t needs each stream's first sample at or after t, so the window
            # ending at sec + 1 is completed by the 4 Hz streams' chunk of second sec + 1: send
            # BVP of second sec, then TEMP and EDA of sec + 1; the last one completes the hop.
            await pub_chunk("bvp", sec)
            await pub_chunk("temp", sec + 1)
            await pub_chunk("eda", sec + 1)
            return time.perf_counter()

        await pub_chunk("temp", 0)
        await pub_chunk("eda", 0)
        warm = int(model_baseline_s) + 60
        for sec in range(warm):  # fill the baseline and the first window
            await send(sec)
        await asyncio.sleep(1.0)  # drain predictions made so far
        while not got.empty():
            got.get_nowait()
        for sec in range(warm, warm + hops):
            t_sent = await send(sec)
            try:
                t_got = await asyncio.wait_for(got.get(), 5.0)
            except TimeoutError:
                continue
            lat.append((t_got - t_sent) * 1e3)
        task.cancel()
    return lat


def run_stream_bench(hops: int = 300, model: str = "default") -> dict[str, Any]:
    """Start mosquitto and a daemon, measure ``hops`` predictions, stop both."""
    from affectstream.model.predictor import Predictor

    pred = Predictor(model)
    base = warmup_s(pred.calibration_rule)  # no inference before it
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalMosquitto(tmp).start()
        port = broker.port
        daemon = None
        try:
            cfg = Path(tmp) / "monitor.toml"
            cfg.write_text(
                f'model = "{model}"\nhop_s = 1.0\nlog_interval_s = 3600\nstate_dir = "none"\n'
                f'[broker]\nhost = "127.0.0.1"\nport = {port}\n'
                '[[source]]\nkind = "mqtt"\n[[sink]]\nkind = "mqtt"\n'
            )
            daemon = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "affectstream",
                    "run",
                    "--config",
                    str(cfg),
                    "--log-level",
                    "WARNING",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            time.sleep(2.0)
            lat = asyncio.run(_measure(port, hops, base))
        finally:
            if daemon is not None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(10)
            broker.stop()
    a = np.array(lat)
    return {
        "what": "publish of the chunk completing a hop -> prediction at a subscriber; one E4-like "
        "device, 1 s hop, daemon and mosquitto as separate processes on loopback, QoS 1",
        "hops_measured": int(a.size),
        "p50_ms": float(np.percentile(a, 50)) if a.size else None,
        "p99_ms": float(np.percentile(a, 99)) if a.size else None,
        "max_ms": float(a.max()) if a.size else None,
    }


def format_stream_table(r: dict[str, Any]) -> str:
    """Text table of :func:`run_stream_bench`."""
    return (
        f"{r['what']}\n  {r['hops_measured']} hops: p50 {r['p50_ms']:.2f} ms, "
        f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms"
    )


__all__ = ["format_stream_table", "run_stream_bench"]
