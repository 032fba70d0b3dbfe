"""``affectstream bench dashboard``: the live page with 1, 10 and 100 devices.

A real mosquitto and a real ``affectstream dashboard`` (a separate process) on loopback; this
process publishes, for every device, one prediction record per hop and the raw samples of an
E4 (BVP 64 Hz, EDA and TEMP 4 Hz) in 1 s chunks; headless Chromium (Selenium) loads the page.
Measured per device count: time to first contentful paint and to the table holding every
device, row updates the page applies per device per second (the feed sends one per hop),
arrival at the server -> painted in the page, and the server's CPU (user + system, from
``/proc``) per device while the page is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.stream.payload import emotion_topic, encode_chunk, raw_topic
from affectstream.tools.local_broker import LocalMosquitto
from affectstream.tools.local_broker import free_port as _free_port
from affectstream.tools.local_broker import wait_port as _wait_port

E4_RATES = {"bvp": 64.0, "eda": 4.0, "temp": 4.0}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _publish(port: int, n: int, hop_s: float, raw: bool, stop: asyncio.Event) -> int:
    """Publish every device's record each hop and its raw samples each second until ``stop``."""
    import aiomqtt

    rng = np.random.default_rng(0)
    sent = 0
    seq = 0
    async with aiomqtt.Client("127.0.0.1", port) as pub:
        t_next = time.time()
        k = 0
        while not stop.is_set():
            now = time.time()
            for d in range(n):
                dev = f"wrist-{d:03d}"
                if raw:
                    for m, fs in E4_RATES.items():
                        x = rng.standard_normal(int(fs))
                        await pub.publish(
                            raw_topic(dev, m), encode_chunk(now - 1.0, fs, [m], seq, x), qos=0
                        )
                        sent += 1
                if k % max(1, round(hop_s)) == 0:
                    p = float(rng.uniform())
                    rec = {
                        "device": dev,
                        "t": now,
                        "label": "stress" if p > 0.5 else "non-stress",
                        "probs": {"non-stress": 1 - p, "stress": p},
                        "quality": 1.0,
                        "model": "bench",
                        "latency_ms": 0.0,
                        "seq": seq,
                    }
                    await pub.publish(emotion_topic(dev), json.dumps(rec), qos=0)
                    sent += 1
            seq += 1
            k += 1
            t_next += 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, t_next - time.time()))
    return sent


def _browser() -> Any:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    drv = shutil.which("chromedriver")
    if exe is None or drv is None:
        return None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    opts = webdriver.ChromeOptions()
    opts.binary_location = exe
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    opts.add_argument("--window-size=1200,1000")
    return webdriver.Chrome(service=Service(drv), options=opts)


def _one(n: int, seconds: float, hop_s: float, raw: bool, broker_port: int) -> dict[str, Any]:
    http = _free_port()
    dash = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectstream",
            "dashboard",
            "--broker",
            f"127.0.0.1:{broker_port}",
            "--port",
            str(http),
            "--log-level",
            "WARNING",
        ]
        + ([] if raw else ["--no-raw"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out: dict[str, Any] = {"devices": n}
    try:
        _wait_port(http, 30)
        time.sleep(1.0)  # subscribed

        async def main() -> dict[str, Any]:
            stop = asyncio.Event()
            pub = asyncio.create_task(_publish(broker_port, n, hop_s, raw, stop))
            await asyncio.sleep(2.5)  # every device known to the server
            res: dict[str, Any] = {}
            drv = await asyncio.to_thread(_browser)
            try:
                if drv is not None:
                    await asyncio.to_thread(drv.get, f"http://127.0.0.1:{http}/")
                    js = "return window.affectstreamDash.rows.size"
                    end = time.monotonic() + 20
                    while time.monotonic() < end and drv.execute_script(js) < n:
                        await asyncio.sleep(0.05)
                    res["first_paint_ms"] = drv.execute_script(
                        "const e = performance.getEntriesByName('first-contentful-paint')[0];"
                        "return e ? e.startTime : null"
                    )
                    res["all_rows_ms"] = drv.execute_script(
                        f"const s = window.affectstreamDash.sizeTimes.find(x => x[0] >= {n});"
                        "return s ? s[1] : null"
                    )
                    drv.execute_script("window.affectstreamDash.lags = []")
                    u0, e0 = drv.execute_script(
                        "const d = window.affectstreamDash; return [d.rowUpdates, d.events]"
                    )
                    tu0 = time.monotonic()
                c0, w0 = _cpu_s(dash.pid), time.monotonic()
                await asyncio.sleep(seconds)
                c1, w1 = _cpu_s(dash.pid), time.monotonic()
                res["server_cpu_pct"] = 100 * (c1 - c0) / (w1 - w0)
                if drv is not None:
                    u1, e1 = drv.execute_script(
                        "const d = window.affectstreamDash; return [d.rowUpdates, d.events]"
                    )
                    tu1 = time.monotonic()
                    lags = drv.execute_script("return window.affectstreamDash.lags")
                    res["row_updates_per_device_s"] = (u1 - u0) / (tu1 - tu0) / n
                    res["events_per_s"] = (e1 - e0) / (tu1 - tu0)
                    a = np.array(lags, dtype=float) * 1e3
                    res["lag_p50_ms"] = float(np.percentile(a, 50)) if a.size else None
                    res["lag_p95_ms"] = float(np.percentile(a, 95)) if a.size else None
            finally:
                if drv is not None:
                    await asyncio.to_thread(drv.quit)
                stop.set()
                res["messages_sent"] = await pub
            return res

        out.update(asyncio.run(main()))
    finally:
        dash.terminate()
        dash.wait(10)
    out["server_cpu_pct_per_device"] = out["server_cpu_pct"] / n
    out["messages_per_s"] = n * ((len(E4_RATES) if raw else 0) + 1.0 / hop_s)
    return out


def run_dashboard_bench(
    devices: tuple[int, ...] = (1, 10, 100),
    seconds: float = 10.0,
    hop_s: float = 1.0,
    raw: bool = True,
) -> dict[str, Any]:
    """Start mosquitto; for each device count a dashboard, a feed and a page; stop them all."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalMosquitto(tmp).start()
        try:
            rows.extend(_one(n, seconds, hop_s, raw, broker.port) for n in devices)
        finally:
            broker.stop()
    return {
        "what": f"dashboard server + headless Chromium, loopback mosquitto; per device a record "
        f"every {hop_s:g} s" + (" and E4 raw samples (3 topics, 1 s chunks)" if raw else ""),
        "seconds": seconds,
        "browser": rows[0].get("first_paint_ms") is not None if rows else False,
        "rows": rows,
    }


def format_dashboard_table(r: dict[str, Any]) -> str:
    """Text table of :func:`run_dashboard_bench`."""

    def f(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    lines = [
        r["what"],
        f"  {'devices':>7} {'msg/s':>6} {'first paint':>12} {'all rows':>9} {'updates/dev/s':>14}"
        f" {'events/s':>9} {'lag p50':>8} {'lag p95':>8} {'server CPU':>11} {'per device':>11}",
    ]
    for x in r["rows"]:
        fp, ar = f(x.get("first_paint_ms"), ".0f"), f(x.get("all_rows_ms"), ".0f")
        up, ev = f(x.get("row_updates_per_device_s"), ".2f"), f(x.get("events_per_s"), ".1f")
        l50, l95 = f(x.get("lag_p50_ms"), ".0f"), f(x.get("lag_p95_ms"), ".0f")
        lines.append(
            f"  {x['devices']:>7} {x['messages_per_s']:>6.0f} {fp:>9} ms {ar:>6} ms {up:>14}"
            f" {ev:>9} {l50:>5} ms {l95:>5} ms {x['server_cpu_pct']:>10.1f}%"
            f" {x['server_cpu_pct_per_device']:>10.2f}%"
        )
    if not r["browser"]:
        lines.append("  (no headless Chromium + selenium here: server figures only)")
    return "\n".join(lines)


__all__ = ["format_dashboard_table", "run_dashboard_bench"]
