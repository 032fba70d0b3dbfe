"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) loads the page while a recording is replayed over a real
mosquitto through a real ``affectstream run`` daemon, into a real ``affectstream dashboard``.

The recording is the bundled excerpt's first 9 minutes with the pulse wave lost for 50 s after
400 s, so the device warms up, is predicted, then abstains with a reason. A screenshot is kept
in ``test-artifacts/dashboard.png`` (gitignored) and in the test's tmp folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from affectstream.data import save_npz
from tests.conftest import REPO, free_port, wait_for_port
from tests.dashboard.test_state import with_pulse_lost

pytest.importorskip("aiohttp", reason="the dashboard extra is not installed")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

ARTIFACTS = REPO / "test-artifacts"


def _chromium() -> tuple[str, str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    drv = shutil.which("chromedriver")
    if exe is None or drv is None:
        pytest.skip(
            "headless Chromium is not installed (apt-get install -y chromium chromium-driver; "
            ".ci/run installs it)"
        )
    return exe, drv


def _cli(*args: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "affectstream.tools.cli", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _until(fn, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"gave up after {timeout} s waiting for {what}")


def browser(exe: str, drv: str):
    """A headless Chromium under Selenium, with the driver given (nothing downloaded)."""
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = exe
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,1000",
    ):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(drv), options=opts)


@pytest.mark.slow
def test_a_replay_through_the_daemon_shows_in_chromium(broker, excerpt, tmp_path):
    from selenium.webdriver.common.by import By

    exe, drv = _chromium()
    rec = with_pulse_lost(excerpt.slice_time(excerpt.start_time, excerpt.start_time + 540))
    npz = tmp_path / "s13_pulse_lost.npz"
    save_npz(rec, npz)
    conf = tmp_path / "monitor.toml"
    conf.write_text(
        'spool_dir = "memory"\nlog_interval_s = 5\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\nclient_id = "monitor"\n'
        '[[source]]\nkind = "mqtt"\n[[sink]]\nkind = "mqtt"\n'
    )
    http = free_port()
    procs = [
        _cli("run", "--config", str(conf), log=tmp_path / "daemon.log"),
        _cli("dashboard", "--config", str(conf), "--port", str(http), log=tmp_path / "dash.log"),
    ]
    drv_ = None
    try:
        wait_for_port(http, 30)
        drv_ = browser(exe, drv)
        drv_.get(f"http://127.0.0.1:{http}/")
        _until(lambda: drv_.execute_script("return window.affectstreamDash.connected"), 20, "SSE")
        time.sleep(1.0)  # the daemon subscribes
        procs.append(
            _cli(
                "replay",
                str(npz),
                "--to",
                "mqtt",
                "--speed",
                "30",
                "--device",
                "wrist-07",
                "--broker",
                f"127.0.0.1:{broker.port}",
                log=tmp_path / "replay.log",
            )
        )

        def cell(name: str) -> str:
            els = drv_.find_elements(By.CSS_SELECTOR, f'tr[data-device="wrist-07"] td.{name}')
            return els[0].text if els else ""

        # the device appears, warming up with the time it has left
        state = _until(lambda: "warming up" in cell("state") and cell("state"), 30, "the row")
        assert "left" in state
        # its probabilities appear, then change
        first = _until(
            lambda: json.loads(
                drv_.find_element(
                    By.CSS_SELECTOR, 'tr[data-device="wrist-07"] td.probs'
                ).get_attribute("data-probs")
            ),
            30,
            "probabilities",
        )
        assert set(first) == {"non-stress", "stress"}
        assert abs(sum(first.values()) - 1) < 1e-3
        assert cell("state") == "calibrated" and cell("label") in first

        def changed():
            now = json.loads(
                drv_.find_element(
                    By.CSS_SELECTOR, 'tr[data-device="wrist-07"] td.probs'
                ).get_attribute("data-probs")
            )
            return now if now and now != first else None

        _until(changed, 20, "the probabilities to update")
        # the lost pulse: an abstention, with its reason on the page
        reason = _until(lambda: "abstaining" in cell("state") and cell("state"), 30, "abstain")
        assert "missing" in reason, reason
        # the detail view: the timeline with its gaps and threshold, the raw signals
        drv_.find_element(By.CSS_SELECTOR, 'tr[data-device="wrist-07"]').click()
        svg = _until(
            lambda: drv_.find_elements(By.CSS_SELECTOR, "#timeline svg[data-gaps]"), 10, "timeline"
        )[0]
        _until(lambda: int(svg.get_attribute("data-gaps") or 0) >= 2 or None, 10, "gaps")
        rects = drv_.find_elements(By.CSS_SELECTOR, "#timeline rect.gap")
        assert any("missing" in (r.get_attribute("data-reason") or "") for r in rects)
        assert drv_.find_elements(By.CSS_SELECTOR, "#timeline line.threshold")
        mods = {
            e.get_attribute("data-modality")
            for e in drv_.find_elements(By.CSS_SELECTOR, "#raw svg[data-modality]")
        }
        assert mods == {"bvp", "eda", "temp"}
        assert drv_.find_elements(By.CSS_SELECTOR, "#raw rect.window")
        time.sleep(0.5)
        ARTIFACTS.mkdir(exist_ok=True)
        assert drv_.save_screenshot(str(tmp_path / "dashboard.png"))
        shutil.copy(tmp_path / "dashboard.png", ARTIFACTS / "dashboard.png")
        severe = [e for e in drv_.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe  # no script error, nothing refused by the CSP
    finally:
        if drv_ is not None:
            drv_.quit()
        for p in reversed(procs):
            _stop(p)
    log = (tmp_path / "dash.log").read_text()
    assert "Traceback" not in log, log
