"""The dashboard server over real HTTP, fed by a real mosquitto; and the daemon without it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest

from affectstream.stream.config import BrokerConfig
from affectstream.stream.payload import emotion_topic, encode_chunk, raw_topic
from tests.conftest import EXCERPT, free_port

aiohttp = pytest.importorskip("aiohttp", reason="the dashboard extra is not installed")

from affectstream.dashboard.model_info import model_info  # noqa: E402
from affectstream.dashboard.mqtt_feed import MqttFeed, dashboard_broker  # noqa: E402
from affectstream.dashboard.server import serve  # noqa: E402
from affectstream.dashboard.state import DashboardState  # noqa: E402


async def _sse_events(session, url: str, n: int) -> list[tuple[str, dict]]:
    """The first ``n`` events of the stream at ``url``."""
    out: list[tuple[str, dict]] = []
    async with session.get(url) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        name = None
        async for line in resp.content:
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                name = text[7:]
            elif text.startswith("data: "):
                out.append((name, json.loads(text[6:])))
                if len(out) == n:
                    return out
    return out


def test_mqtt_records_and_raw_reach_the_page_json_and_the_event_stream(broker):
    import aiomqtt

    state = DashboardState(model_info("default"))
    port = free_port()
    feed = MqttFeed(dashboard_broker(BrokerConfig(port=broker.port, client_id="monitor")), state)
    assert feed.link.broker.client_id == "monitor-dashboard"  # never the daemon's own id

    async def main():
        stop = asyncio.Event()
        ready = asyncio.Event()
        server = asyncio.create_task(
            serve(state, stop, port=port, tasks=[feed.run], on_ready=lambda u: ready.set())
        )
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.wait_for(feed.link.connected.wait(), 10)
        base = f"http://127.0.0.1:{port}"
        async with aiomqtt.Client("127.0.0.1", broker.port) as pub:
            rec = {
                "device": "wrist-1",
                "t": 1.7e9,
                "label": None,
                "probs": {},
                "quality": 0.0,
                "reason": "calibrating",
                "warmup_left_s": 240.0,
            }
            await pub.publish(emotion_topic("wrist-1"), json.dumps(rec), qos=1)
            await pub.publish(emotion_topic("wrist-2"), b"{not json", qos=1)
            await pub.publish(emotion_topic("wrist-3"), json.dumps({**rec, "device": "x"}), qos=1)
            x = np.linspace(0, 1, 64)
            await pub.publish(raw_topic("wrist-1", "PPG"), encode_chunk(1.7e9, 64.0, ["bvp"], 0, x))
            await pub.publish(raw_topic("wrist-1", "gsr"), b'{"t0": 1}', qos=1)
            for _ in range(100):
                if state.counters["raw_chunks"] and state.counters["bad_raw"]:
                    break
                await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as s:
            async with s.get(base + "/") as r:
                html = await r.text()
                assert r.status == 200 and "/static/dashboard.js" in html
                assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            async with s.get(base + "/static/dashboard.js") as r:
                assert r.status == 200 and "EventSource" in await r.text()
            async with s.get(base + "/api/state") as r:
                body = await r.json()
            async with s.get(base + "/api/device/wrist-1") as r:
                detail = await r.json()
            async with s.get(base + "/api/device/nobody") as r:
                assert r.status == 404 and "nobody" in (await r.json())["error"]
            events = await asyncio.wait_for(_sse_events(s, base + "/events", 2), 10)
        stop.set()
        await asyncio.wait_for(server, 10)
        return body, detail, events

    body, detail, events = asyncio.run(main())
    assert [r["device"] for r in body["rows"]] == ["wrist-1"]
    row = body["rows"][0]
    assert row["state"] == "warming up" and row["warmup_left_s"] == 240.0
    assert body["meta"]["counters"]["bad_records"] == 2  # not JSON; names another device
    assert body["meta"]["counters"]["bad_raw"] == 1
    assert detail["raw"]["bvp"]["values"][0][-1] == 1.0  # the PPG alias is the model's bvp
    (n1, meta), (n2, rows) = events
    assert n1 == "meta" and meta["model"]["threshold"] == 0.5
    assert n2 == "rows" and rows["rows"][0]["device"] == "wrist-1"


def test_the_daemon_imports_nothing_of_the_dashboard():
    code = (
        "import asyncio, sys\n"
        "from affectstream.tools.cli import build_parser; build_parser()\n"
        "from affectstream.stream.config import parse_config\n"
        "from affectstream.stream.daemon import Daemon\n"
        f"src = {{'kind': 'replay', 'path': {str(EXCERPT)!r}, 'speed': 0}}\n"
        "cfg = parse_config({'source': [src], 'sink': [{'kind': 'jsonl', 'path': '/dev/null'}]})\n"
        "d = Daemon(cfg)\n"
        "async def main():\n"
        "    t = asyncio.create_task(d.run())\n"
        "    while d.stats().get('predictions_out', 0) < 3:\n"
        "        await asyncio.sleep(0.05)\n"
        "    d.stop.set(); await t\n"
        "asyncio.run(main())\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'selenium')\n"
        "       or m.startswith('affectstream.dashboard')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=False, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
