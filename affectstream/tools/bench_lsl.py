"""LSL ingest-and-filter benchmark: affectstream against MNE-LSL on the same streams.

A publisher process plays N E4-like devices (three outlets each: BVP 64 Hz, EDA 4 Hz, TEMP
4 Hz) in real time. Two consumer processes, one after the other, ingest every stream, filter it
causally and take the 60 s window every 1 s hop:

- affectstream: :class:`~affectstream.stream.lsl_source.LslSource` into one Preprocessor and
  rolling window per device;
- MNE-LSL: one ``StreamLSL(bufsize=60)`` per stream with ``filter()`` (its causal IIR) and
  ``get_data()`` every hop.

Each consumer's CPU time (all threads) over the measured seconds gives CPU per device and the
devices one core could keep in real time. Needs ``pip install 'affectstream[bench]'``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

RATES = {"bvp": 64, "eda": 4, "temp": 4}
TYPES = {"bvp": "BVP", "eda": "EDA", "temp": "TEMP"}
#: MNE-LSL band per modality (its filter() builds a causal IIR), as close to our presets as it
#: allows: BVP band-pass, EDA and TEMP low-pass.
MNE_BANDS = {"bvp": (0.5, 8.0), "eda": (None, 1.0), "temp": (None, 0.5)}


def publish(n: int, seconds: int, prefix: str) -> None:
    """Play ``n`` devices in real time for ``seconds`` (run in its own process)."""
    import pylsl

    outlets = {}
    for d in range(n):
        for m, fs in RATES.items():
            info = pylsl.StreamInfo(
                f"{prefix}{d}-{m}", TYPES[m], 1, fs, pylsl.cf_double64, f"{prefix}{d}/{m}"
            )
            ch = info.desc().append_child("channels").append_child("channel")
            ch.append_child_value("label", m)
            ch.append_child_value("unit", "uS" if m == "eda" else "a.u.")
            ch.append_child_value("type", TYPES[m])
            outlets[(d, m)] = pylsl.StreamOutlet(info)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for sec in range(seconds):
        for (_d, m), o in outlets.items():
            fs = RATES[m]
            o.push_chunk((rng.standard_normal((fs, 1)) + (33 if m == "temp" else 2)).tolist())
        lag = (sec + 1) - (time.perf_counter() - t0)
        if lag > 0:
            time.sleep(lag)


def consume_affectstream(n: int, seconds: float, prefix: str) -> dict[str, Any]:
    """Ingest with our LSL source into Preprocessors and rolling windows."""
    from affectstream.dsp.preprocessor import Preprocessor
    from affectstream.dsp.presets import E4_CONFIG
    from affectstream.dsp.rolling_window import RollingWindow
    from affectstream.stream.lsl_source import LslSource
    from affectstream.stream.problems import Problems

    pps: dict[str, Preprocessor] = {}
    bufs: dict[str, RollingWindow] = {}
    counters: Counter[str] = Counter()

    async def emit(ev: Any) -> bool:
        pp = pps.get(ev.device)
        if pp is None:
            pp = pps[ev.device] = Preprocessor(E4_CONFIG)
            bufs[ev.device] = RollingWindow(60 * 32, 3)
        f = pp.push(ev.modality, ev.samples, start_time=ev.start_time, timestamps=ev.timestamps)
        counters["samples_in"] += len(ev.samples)
        if len(f):
            bufs[ev.device].append(f.x)
        return True

    src = LslSource(list(RATES), Problems(), types=["BVP", "EDA", "TEMP"], max_buflen_s=10)

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop, emit))
        while len(src.inlets) < 3 * n:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)
        win = np.empty((60 * 32, 3))
        c0, w0, s0 = time.process_time(), time.perf_counter(), counters.get("samples_in", 0)
        next_hop = w0 + 1.0
        while time.perf_counter() - w0 < seconds:
            await asyncio.sleep(max(0.0, next_hop - time.perf_counter()))
            next_hop += 1.0
            for b in bufs.values():
                b.window(win)  # the hop's 60 s window, as a model would take it
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        samples = counters.get("samples_in", 0) - s0
        stop.set()
        await task
        return {"cpu_s": cpu, "wall_s": wall, "samples": samples}

    return asyncio.run(main())


def consume_mne(n: int, seconds: float, prefix: str) -> dict[str, Any]:
    """Ingest with MNE-LSL: StreamLSL + filter() + get_data() every hop."""
    import logging

    from mne_lsl.stream import StreamLSL

    logging.getLogger("mne_lsl").setLevel(logging.ERROR)
    streams = []
    for d in range(n):
        for m in RATES:
            s = StreamLSL(bufsize=60, name=f"{prefix}{d}-{m}", source_id=f"{prefix}{d}/{m}")
            for attempt in range(10):  # liblsl's one-shot resolve misses streams now and then
                try:
                    s.connect(acquisition_delay=0.02, timeout=3)
                    break
                except RuntimeError:
                    if attempt == 9:
                        raise
            lo, hi = MNE_BANDS[m]
            s.filter(lo, hi, verbose="ERROR")
            streams.append(s)
    time.sleep(2.0)
    c0, w0 = time.process_time(), time.perf_counter()
    next_hop = w0 + 1.0
    samples = 0
    while time.perf_counter() - w0 < seconds:
        time.sleep(max(0.0, next_hop - time.perf_counter()))
        next_hop += 1.0
        for s in streams:
            data, _ = s.get_data()
            samples += 0 if data is None else 1
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    for s in streams:
        s.disconnect()
    return {"cpu_s": cpu, "wall_s": wall, "windows": samples}


def run_lsl_bench(n: int = 30, seconds: float = 20.0) -> dict[str, Any]:
    """Publisher and the two consumers, each in its own process, on this machine only."""
    try:
        import mne_lsl  # noqa: F401
    except ImportError:
        return {"skipped": "MNE-LSL is not installed: pip install 'affectstream[bench]'"}
    prefix = f"lb{uuid.uuid4().hex[:5]}-"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "lsl_api.cfg"
        cfg.write_text(
            "[ports]\nIPv6 = disable\nPortRange = 512\n[multicast]\n"
            "ResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1}\n"
            f"SessionID = {prefix}\n"
        )
        env = {
            **os.environ,
            "LSLAPICFG": str(cfg),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MNE_LSL_LOG_LEVEL": "ERROR",
        }
        total = int(2 * seconds + 600)  # connecting many MNE-LSL streams takes a while
        pub = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "affectstream.tools.bench_lsl",
                "publish",
                str(n),
                str(total),
                prefix,
            ],
            env=env,
        )
        out: dict[str, Any] = {"devices": n, "streams": 3 * n, "seconds": seconds}
        try:
            time.sleep(2.0)
            for who in ("affectstream", "mne"):
                r = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "affectstream.tools.bench_lsl",
                        f"consume-{who}",
                        str(n),
                        str(seconds),
                        prefix,
                    ],
                    env=env,
                    capture_output=True,
                    check=False,
                    text=True,
                    timeout=seconds + 500,
                )
                if r.returncode != 0:
                    out[who] = {"error": r.stderr.strip().splitlines()[-1:]}
                    continue
                res = json.loads(r.stdout.strip().splitlines()[-1])
                res["cpu_per_device"] = res["cpu_s"] / res["wall_s"] / n
                res["devices_per_core"] = 1.0 / res["cpu_per_device"]
                out[who] = res
        finally:
            pub.terminate()
            pub.wait(10)
    return out


def format_lsl_table(r: dict[str, Any]) -> str:
    """Text table of :func:`run_lsl_bench`."""
    if "skipped" in r:
        return f"LSL ingest vs MNE-LSL: skipped ({r['skipped']})"
    lines = [
        f"LSL ingest + causal filter + 60 s window every 1 s, {r['devices']} E4-like devices "
        f"({r['streams']} streams), {r['seconds']:g} s measured:",
        f"{'consumer':<14}{'CPU % of a core per device':>28}{'devices per core':>18}",
    ]
    for who, label in (("affectstream", "affectstream"), ("mne", "MNE-LSL")):
        x = r.get(who, {})
        if "cpu_per_device" in x:
            lines.append(
                f"{label:<14}{100 * x['cpu_per_device']:>28.3f}{x['devices_per_core']:>18.0f}"
            )
        else:
            lines.append(f"{label:<14}  failed: {x.get('error')}")
    return "\n".join(lines)


if __name__ == "__main__":  # the subprocess entry points of this benchmark
    cmd, n_, secs, pre = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    if cmd == "publish":
        publish(n_, int(secs), pre)
    elif cmd == "consume-affectstream":
        print(json.dumps(consume_affectstream(n_, secs, pre)))
    elif cmd == "consume-mne":
        print(json.dumps(consume_mne(n_, secs, pre)))
