from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time

import pytest

from affectstream.model.predictor import Predictor
from affectstream.stream.config import BrokerConfig, parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.replay_publish import publish_mqtt
from tests.stream.parity import assert_parity, offline_by_time, window_sink


def make_daemon(broker, records, **top) -> Daemon:
    cfg = parse_config(
        {
            **top,
            "broker": {"host": "127.0.0.1", "port": broker.port},
            "source": [{"kind": "mqtt"}],
            "sink": [{"kind": "mqtt"}],
        }
    )
    return Daemon(cfg, extra_sinks=[window_sink(records)])


async def run_until(daemon: Daemon, cond, timeout: float = 60.0) -> None:
    task = asyncio.create_task(daemon.run())
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    daemon.stop.set()
    await asyncio.wait_for(task, 20)


def test_mqtt_parity_three_devices_and_a_real_subscriber(broker, excerpt, tmp_path):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 600)
    pred = Predictor("default")
    offline = offline_by_time(pred, rec)
    sub_exe = shutil.which("mosquitto_sub")
    if sub_exe is None:
        pytest.skip("mosquitto_sub is not installed (apt-get install -y mosquitto-clients)")
    sub = subprocess.Popen(
        [
            sub_exe,
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-t",
            "affectstream/+/emotion",
            "-v",
            "-q",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    records: list[dict] = []
    daemon = make_daemon(broker, records)
    devices = ["wrist-a", "wrist-b", "wrist-c"]
    expected = len(offline) * len(devices)

    async def main():
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon_connected(daemon), 10)
        b = BrokerConfig(host="127.0.0.1", port=broker.port)
        await asyncio.gather(
            *(publish_mqtt(rec, b, d, speed=0, modalities=["bvp", "eda", "temp"]) for d in devices)
        )
        deadline = time.monotonic() + 60
        while len(records) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    time.sleep(0.5)
    sub.terminate()
    out, _ = sub.communicate(timeout=5)
    assert len(records) == expected
    for d in devices:
        mine = [r for r in records if r["device"] == d]
        assert_parity(mine, offline, pred.classes)
    lines = [ln for ln in out.splitlines() if ln.strip() and "warmup_left_s" not in ln]
    assert len(lines) == expected
    for ln in lines:
        topic, payload = ln.split(" ", 1)
        doc = json.loads(payload)
        assert topic == f"affectstream/{doc['device']}/emotion"
        assert {"device", "t", "label", "probs", "quality", "model", "latency_ms"} <= set(doc)
        assert doc["clock"] == "unix"  # the sender's t0, Unix time
    assert daemon.counters["bad_payloads"] == 0


async def daemon_connected(daemon: Daemon) -> None:
    while daemon.mqtt is None:
        await asyncio.sleep(0.01)
    await daemon.mqtt.connected.wait()


async def feed_good_device_then_stop(daemon: Daemon, task: asyncio.Task, rec, port: int, cond):
    """Replay ``rec`` as device "good" over MQTT, wait (up to 30 s) until ``cond()``, let late
    records arrive, then stop the daemon."""
    bc = BrokerConfig(host="127.0.0.1", port=port)
    await publish_mqtt(rec, bc, "good", speed=0, modalities=["bvp", "eda", "temp"])
    deadline = time.monotonic() + 30
    while not cond() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    daemon.stop.set()
    await asyncio.wait_for(task, 20)


def test_bad_messages_are_counted_and_good_devices_still_answered(broker, excerpt):
    import aiomqtt

    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 420)
    records: list[dict] = []
    daemon = make_daemon(broker, records)

    async def main():
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon_connected(daemon), 10)
        async with aiomqtt.Client("127.0.0.1", broker.port) as c:
            await c.publish("affectstream/evil/raw/bvp", b"{not json", qos=1)
            await c.publish("affectstream/evil/raw/bvp", b"[" * 10000, qos=1)
            await c.publish(
                "affectstream/evil/raw/eda",
                b'{"t0":0,"fs":8,"channels":["eda"],"seq":0,"samples":[1,2]}',
                qos=1,
            )
            await c.publish(
                "affectstream/evil/raw/emg",
                b'{"t0":0,"fs":8,"channels":["emg"],"seq":0,"samples":[1,2]}',
                qos=1,
            )
        await feed_good_device_then_stop(daemon, task, rec, broker.port, lambda: records)

    asyncio.run(main())
    assert records and all(r["device"] == "good" for r in records)
    assert daemon.counters["bad_payloads"] == 2
    assert daemon.counters["wrong_rate"] == 1
    assert daemon.counters["unknown_modality"] == 1


def test_device_that_goes_quiet_and_comes_back(broker, excerpt):
    rec = excerpt
    a = rec.slice_time(rec.start_time, rec.start_time + 500)
    b = rec.slice_time(rec.start_time + 620, rec.start_time + 1000)
    records: list[dict] = []
    daemon = make_daemon(broker, records)
    bc = BrokerConfig(host="127.0.0.1", port=broker.port)

    async def main():
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon_connected(daemon), 10)
        await publish_mqtt(a, bc, "flaky", speed=0, modalities=["bvp", "eda", "temp"])
        await asyncio.sleep(0.3)
        await publish_mqtt(b, bc, "flaky", speed=0, modalities=["bvp", "eda", "temp"])
        deadline = time.monotonic() + 30
        while (not records or records[-1]["t"] < b.end_time - 60) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    t_rel = [(r["t"] - rec.start_time, r["label"]) for r in records]
    # windows holding more than 10 % (6 s) of the 500-620 s silence abstain; later ones predict
    during = [lab for t, lab in t_rel if 507 <= t <= 665]
    after = [lab for t, lab in t_rel if t >= 680]
    assert during and all(lab is None for lab in during)  # the gap is abstained on
    assert after and all(lab is not None for lab in after)  # and it predicts again after
    assert daemon.counters["gaps"] == 0  # seq numbers restarted with the replay: not a gap


def test_run_check_validates_configs(tmp_path):
    good = tmp_path / "ok.toml"
    good.write_text(
        '[broker]\nhost = "127.0.0.1"\nport = 1883\n\n[[source]]\nkind = "mqtt"\n\n'
        '[[sink]]\nkind = "mqtt"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "affectstream", "run", "--config", str(good), "--check"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[broker]\nport = "x"\n[[source]]\nkind = "mqtt"\n')
    out = subprocess.run(
        [sys.executable, "-m", "affectstream", "run", "--config", str(bad), "--check"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "broker.port" in out.stderr
    secret = tmp_path / "secret.toml"
    secret.write_text('[broker]\npassword = "hunter2"\n[[source]]\nkind = "mqtt"\n')
    out = subprocess.run(
        [sys.executable, "-m", "affectstream", "run", "--config", str(secret), "--check"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "never go in the config" in out.stderr
    assert "hunter2" not in out.stderr
    from affectstream.model.bundle import default_bundle_path

    tampered = tmp_path / "tampered.afb"
    data = bytearray(default_bundle_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    cfg = tmp_path / "tampered.toml"
    cfg.write_text(f'model = "{tampered}"\n[[source]]\nkind = "mqtt"\n')
    out = subprocess.run(
        [sys.executable, "-m", "affectstream", "run", "--config", str(cfg), "--check"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "tampered.afb" in out.stderr


def test_cli_daemon_fed_by_cli_replay_read_by_mosquitto_sub(broker, tmp_path):
    """The deployment as a user runs it: `affectstream run`, `affectstream replay --to mqtt`,
    and mosquitto_sub as a client that is not ours."""
    from affectstream.data import save_npz
    from affectstream.data.native import load_npz
    from tests.conftest import EXCERPT

    sub_exe = shutil.which("mosquitto_sub")
    if sub_exe is None:
        pytest.skip("mosquitto_sub is not installed (apt-get install -y mosquitto-clients)")
    rec = load_npz(EXCERPT)
    short = rec.slice_time(rec.start_time, rec.start_time + 480)
    save_npz(short, tmp_path / "short.npz")
    cfg = tmp_path / "monitor.toml"
    cfg.write_text(
        f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n\n[[source]]\n'
        'kind = "mqtt"\n\n[[sink]]\nkind = "mqtt"\n'
    )
    sub = subprocess.Popen(
        [
            sub_exe,
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-t",
            "affectstream/+/emotion",
            "-q",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "affectstream", "run", "--config", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)
        rep = subprocess.run(
            [
                sys.executable,
                "-m",
                "affectstream",
                "replay",
                str(tmp_path / "short.npz"),
                "--to",
                "mqtt",
                "--speed",
                "0",
                "--device",
                "cli-dev",
                "--broker",
                f"127.0.0.1:{broker.port}",
            ],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
        )
        assert rep.returncode == 0, rep.stderr
        time.sleep(2.0)
    finally:
        daemon.send_signal(__import__("signal").SIGTERM)
        _, err = daemon.communicate(timeout=20)
        sub.terminate()
        out, _ = sub.communicate(timeout=5)
    assert daemon.returncode == 0, err
    assert "stopped; stats" in err  # clean shutdown logs its counters
    docs = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    warm = [d for d in docs if "warmup_left_s" in d]
    assert warm and all(d["reason"] == "calibrating" for d in warm)  # warm-up reaches the sinks
    docs = [d for d in docs if "warmup_left_s" not in d]
    assert len(docs) == 12  # (480 - 300) / 15 hops after the baseline
    assert all(d["device"] == "cli-dev" and d["label"] in ("stress", "non-stress") for d in docs)


def test_hostile_but_well_formed_input_is_counted_and_survived(broker, excerpt):
    """NaN samples, a wrong channel count, time running backwards and jumping hours ahead,
    duplicated chunks: the daemon keeps running, counts them, and still answers a good device."""
    import aiomqtt
    import numpy as np

    from affectstream.stream.payload import encode_chunk, raw_topic

    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 420)
    records: list[dict] = []
    daemon = make_daemon(broker, records)
    t0 = excerpt.start_time

    async def main():
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon_connected(daemon), 10)
        async with aiomqtt.Client("127.0.0.1", broker.port) as c:
            send = lambda dev, m, t, seq, x, ch=None: c.publish(  # noqa: E731
                raw_topic(dev, m),
                encode_chunk(t, {"bvp": 64, "eda": 4, "temp": 4}[m], ch or [m], seq, x),
                qos=1,
            )
            await send("nan", "eda", t0, 0, np.full(4, np.nan))
            await send("chans", "eda", t0, 0, np.ones((4, 2)), ["a", "b"])
            await send("time", "eda", t0, 0, np.ones(4))
            await send("time", "eda", t0 - 3600, 1, np.ones(4))  # an hour backwards
            await send("time", "eda", t0 + 3 * 3600, 2, np.ones(4))  # three hours ahead
            await send("time", "eda", t0 + 3 * 3600, 2, np.ones(4))  # duplicated
            await send("time", "eda", t0 + 3 * 3600 + 1, 5, np.ones(4))  # seq 3, 4 lost
            await c.publish(
                raw_topic("inf", "eda"),
                b'{"t0":1,"fs":4,"channels":["eda"],"seq":0,"samples":[1,1e999,2]}',
                qos=1,
            )
        await feed_good_device_then_stop(daemon, task, rec, broker.port, lambda: len(records) >= 8)

    asyncio.run(main())
    assert sum(r["device"] == "good" for r in records) == 8
    assert daemon.counters["bad_chunks"] == 1  # two channels where EDA has one
    assert daemon.counters["out_of_order"] == 1  # the duplicate
    assert daemon.monitor.devices["time"].status()["dropped_samples"] == 4  # the hour back
    assert "nan" in daemon.monitor.devices
    assert daemon.counters["nonfinite_samples"] == 4 + 1  # four nulls, one overflow to inf
    assert daemon.counters["time_jumps"] == 2  # an hour back, three hours ahead
    assert daemon.counters["gaps"] == 1
