"""``affectstream dashboard`` and ``affectstream demo --dashboard`` from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from affectstream.tools.cli import main
from tests.conftest import REPO, free_port, wait_for_port

pytest.importorskip("aiohttp", reason="the dashboard extra is not installed")


def test_bad_broker_and_missing_credentials_exit_2_naming_them(capsys, monkeypatch):
    assert main(["dashboard", "--broker", "localhost"]) == 2
    assert "--broker 'localhost': write HOST:PORT" in capsys.readouterr().err
    monkeypatch.delenv("NO_SUCH_DASH_PW", raising=False)
    assert main(["dashboard", "--password-env", "NO_SUCH_DASH_PW"]) == 2
    assert "NO_SUCH_DASH_PW is not set" in capsys.readouterr().err


def test_demo_dashboard_serves_the_bundled_replay_and_stops_on_sigint():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectstream",
            "demo",
            "--dashboard",
            "--port",
            str(port),
            "--speed",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        wait_for_port(port, 30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as r:
                body = json.load(r)
            if body["rows"] and body["rows"][0]["predictions"] >= 68:  # the whole excerpt
                break
            time.sleep(0.2)
        time.sleep(0.5)  # the replay's last line
        row = body["rows"][0]
        assert row["device"] == "S13" and row["state"] == "calibrated"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/device/S13", timeout=5) as r:
            d = json.load(r)
        assert any(h["reason"] == "calibrating" for h in d["history"])
        assert set(d["raw"]) == {"bvp", "eda", "temp"}
    finally:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=20)
    assert p.returncode == 0, out
    assert "replay finished: 78 records of S13" in out  # 68 predictions, 10 calibrating
