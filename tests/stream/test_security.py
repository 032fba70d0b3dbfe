from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
import time

import aiomqtt
import pytest

from affectstream.stream.config import parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.payload import encode_chunk, raw_topic
from tests.conftest import Broker
from tests.stream.parity import window_sink

PASSWORD = "s3cret-Pa55"


def _openssl(d, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)


def issue_cert(d, name: str, cn: str, extfile: str | None = None) -> None:
    """``name.key`` and ``name.crt`` for common name ``cn``, signed by the CA in ``d``."""
    _openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={cn}")  # fmt: skip
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "1",
             *(["-extfile", extfile] if extfile else []))  # fmt: skip


def make_pki(d) -> dict[str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "1", "-subj", "/CN=affectstream-test-ca")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    issue_cert(d, "server", "127.0.0.1", "san.ext")
    return {
        k: str(d / f) for k, f in (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"))
    }


def closed_broker(d, pki: dict[str, str], extra: str) -> Broker:
    """A TLS broker without anonymous access (``extra``: further mosquitto settings)."""
    # (LocalMosquitto keeps the user that started it: as root, mosquitto's own user could not
    # read pytest's private tmp)
    b = Broker(
        d,
        extra=f"cafile {pki['ca']}\ncertfile {pki['cert']}\nkeyfile {pki['key']}\n{extra}",
    )
    b.conf.write_text(b.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    b.stop()
    b.start()
    return b


@pytest.fixture
def tls_broker(tmp_path):
    pki = make_pki(tmp_path)
    pw = tmp_path / "passwd"
    passwd_exe = shutil.which("mosquitto_passwd")
    if passwd_exe is None:
        pytest.skip("mosquitto_passwd is not installed")
    subprocess.run(
        [passwd_exe, "-c", "-b", str(pw), "monitor", PASSWORD], check=True, capture_output=True
    )
    b = closed_broker(tmp_path, pki, f"password_file {pw}\n")
    yield b, pki
    b.stop()


def _ctx(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def test_tls_broker_refuses_clients_without_credentials_or_tls(tls_broker):
    b, pki = tls_broker

    async def attempt(**kw) -> str:
        try:
            async with aiomqtt.Client("127.0.0.1", b.port, timeout=5, **kw):
                return "connected"
        except aiomqtt.MqttError as exc:
            return f"refused: {exc}"

    assert asyncio.run(attempt(tls_context=_ctx(pki["ca"]))).startswith("refused")
    assert asyncio.run(
        attempt(tls_context=_ctx(pki["ca"]), username="monitor", password="wrong")
    ).startswith("refused")
    assert asyncio.run(attempt(username="monitor", password=PASSWORD)).startswith("refused")
    other_ca = ssl.create_default_context()  # system CAs: the test CA is not among them
    assert asyncio.run(
        attempt(tls_context=other_ca, username="monitor", password=PASSWORD)
    ).startswith("refused")
    assert (
        asyncio.run(attempt(tls_context=_ctx(pki["ca"]), username="monitor", password=PASSWORD))
        == "connected"
    )


def test_daemon_over_tls_with_credentials_from_the_environment(
    tls_broker, monkeypatch, caplog, excerpt
):
    b, pki = tls_broker
    monkeypatch.setenv("AS_TEST_USER", "monitor")
    monkeypatch.setenv("AS_TEST_PASSWORD", PASSWORD)
    cfg = parse_config(
        {
            "broker": {
                "host": "127.0.0.1",
                "port": b.port,
                "tls": True,
                "ca_file": pki["ca"],
                "username_env": "AS_TEST_USER",
                "password_env": "AS_TEST_PASSWORD",
            },
            "hop_s": 15.0,
            "source": [{"kind": "mqtt"}],
            "sink": [{"kind": "mqtt"}],
        }
    )
    records: list[dict] = []
    daemon = Daemon(cfg, extra_sinks=[window_sink(records)])
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 400)
    caplog.set_level(logging.DEBUG)

    async def main():
        task = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 15
        while (
            daemon.mqtt is None or not daemon.mqtt.connected.is_set()
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        async with aiomqtt.Client(
            "127.0.0.1", b.port, tls_context=_ctx(pki["ca"]), username="monitor", password=PASSWORD
        ) as c:
            from affectstream.stream.replay import replay_chunks

            for ch in replay_chunks(rec, ["bvp", "eda", "temp"]):
                await c.publish(
                    raw_topic("tls-dev", ch.modality),
                    encode_chunk(ch.start_time, ch.fs, ch.channels, ch.seq, ch.samples),
                    qos=1,
                )
        deadline = time.monotonic() + 20
        while len(records) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    assert daemon.mqtt.counters["connects"] >= 1
    assert len(records) >= 6 and all(r["device"] == "tls-dev" for r in records)
    assert PASSWORD not in caplog.text  # credentials are never logged


README_ACL = """pattern write affectstream/%u/raw/#
user monitor
topic read affectstream/+/raw/#
topic write affectstream/+/emotion
user dashboard
topic read affectstream/+/emotion
"""


def test_readme_acl_lets_a_device_write_only_its_own_raw_topics(tmp_path):
    passwd_exe = shutil.which("mosquitto_passwd")
    if passwd_exe is None:
        pytest.skip("mosquitto_passwd is not installed")
    pw = tmp_path / "passwd"
    for i, user in enumerate(("dev1", "monitor")):
        subprocess.run(
            [passwd_exe, *(["-c"] if i == 0 else []), "-b", str(pw), user, PASSWORD],
            check=True,
            capture_output=True,
        )
    acl = tmp_path / "acl"
    acl.write_text(README_ACL)
    b = Broker(tmp_path, extra=f"password_file {pw}\nacl_file {acl}\n")
    b.conf.write_text(b.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    b.stop()
    b.start()
    seen: dict[str, list[str]] = {"monitor": [], "dev1": []}

    async def main():
        async with (
            aiomqtt.Client("127.0.0.1", b.port, username="monitor", password=PASSWORD) as mon,
            aiomqtt.Client("127.0.0.1", b.port, username="dev1", password=PASSWORD) as dev,
        ):
            await mon.subscribe("affectstream/#", qos=1)
            await dev.subscribe("affectstream/#", qos=1)

            async def collect(client, who):
                async for m in client.messages:
                    seen[who].append(m.topic.value)

            tasks = [
                asyncio.create_task(collect(mon, "monitor")),
                asyncio.create_task(collect(dev, "dev1")),
            ]
            await dev.publish("affectstream/dev1/raw/eda", b"{}", qos=1)  # its own: allowed
            await dev.publish("affectstream/dev2/raw/eda", b"{}", qos=1)  # another's: denied
            await dev.publish("affectstream/dev1/emotion", b"{}", qos=1)  # a prediction: denied
            await mon.publish("affectstream/dev1/emotion", b"{}", qos=1)  # the monitor: allowed
            await asyncio.sleep(1.0)
            for t in tasks:
                t.cancel()

    try:
        asyncio.run(main())
    finally:
        b.stop()
    assert seen["monitor"] == ["affectstream/dev1/raw/eda"]  # the monitor reads raw only
    assert seen["dev1"] == []  # a device reads nothing


def test_client_certificates_are_required_and_accepted(tmp_path, excerpt):
    pki = make_pki(tmp_path)
    issue_cert(tmp_path, "client", "monitor")
    b = closed_broker(tmp_path, pki, "require_certificate true\nuse_identity_as_username true\n")

    async def without_cert() -> bool:
        try:
            async with aiomqtt.Client("127.0.0.1", b.port, tls_context=_ctx(pki["ca"]), timeout=5):
                return True
        except aiomqtt.MqttError:
            return False

    cfg = parse_config(
        {
            "broker": {
                "host": "127.0.0.1",
                "port": b.port,
                "tls": True,
                "ca_file": pki["ca"],
                "cert_file": str(tmp_path / "client.crt"),
                "key_file": str(tmp_path / "client.key"),
            },
            "source": [{"kind": "mqtt"}],
            "sink": [{"kind": "mqtt"}],
        }
    )
    daemon = Daemon(cfg)

    async def main() -> bool:
        task = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 15
        while (
            daemon.mqtt is None or not daemon.mqtt.connected.is_set()
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ok = daemon.mqtt is not None and daemon.mqtt.connected.is_set()
        daemon.stop.set()
        await asyncio.wait_for(task, 20)
        return ok

    try:
        assert asyncio.run(without_cert()) is False
        assert asyncio.run(main()) is True
    finally:
        b.stop()
