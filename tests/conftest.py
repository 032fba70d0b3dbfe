"""Shared fixtures: where the real recordings are, and the bundled excerpt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from affectstream.data import Recording, load_npz

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AFFECTSTREAM_SHARED_DATA", REPO.parent / "shared" / "data"))
EXCERPT = REPO / "affectstream" / "data" / "excerpts" / "stress_predict_S13.npz"
#: A frame-input (CNN) bundle with running calibration, for tests of the frame path: the
#: packaged default is the feature model when that wins cross-validation.
CNN_BUNDLE = REPO / "tests" / "assets" / "cnn_running.afb"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the test with a reason when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not found at {p} (set AFFECTSTREAM_SHARED_DATA)")
    return p


@pytest.fixture(scope="session")
def stress_predict() -> Path:
    """Root of the Stress-Predict E4 dataset."""
    return shared_path("stress_predict")


@pytest.fixture(scope="session")
def mitdb_100() -> Path:
    """MIT-BIH record 100 (path without extension)."""
    return shared_path("mitdb_100") / "100"


@pytest.fixture(scope="session")
def excerpt() -> Recording:
    """The bundled E4 excerpt (S13, 1,320 s)."""
    return load_npz(EXCERPT)


# ---- real servers: mosquitto on a free loopback port, LSL isolated to this machine ----------
import uuid  # noqa: E402

from affectstream.tools.local_broker import LocalMosquitto, free_port  # noqa: E402, F401
from affectstream.tools.local_broker import wait_port as wait_for_port  # noqa: E402, F401


class Broker(LocalMosquitto):
    """The benchmarks' mosquitto (:class:`affectstream.tools.local_broker.LocalMosquitto`),
    started at once; the test is skipped where mosquitto is not installed."""

    def __init__(
        self, tmp: Path, port: int | None = None, extra: str = "", persistent: bool = False
    ) -> None:
        try:
            super().__init__(tmp, port=port, persistent=persistent, extra=extra)
        except RuntimeError as exc:
            pytest.skip(str(exc))
        self.start()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    yield b
    b.stop()


@pytest.fixture(scope="session", autouse=True)
def lsl_isolated(tmp_path_factory):
    """Keep this run's LSL traffic on this machine and apart from other runs."""
    cfg = tmp_path_factory.mktemp("lsl") / "lsl_api.cfg"
    cfg.write_text(
        "[ports]\nIPv6 = disable\nPortRange = 512\n"
        "[multicast]\nResolveScope = machine\n"
        "[lab]\nKnownPeers = {127.0.0.1}\n"
        f"SessionID = affectstream-test-{uuid.uuid4().hex[:12]}\n"
    )
    old = os.environ.get("LSLAPICFG")
    os.environ["LSLAPICFG"] = str(cfg)
    yield cfg
    if old is None:
        os.environ.pop("LSLAPICFG", None)
    else:
        os.environ["LSLAPICFG"] = old


@pytest.fixture(scope="session", autouse=True)
def state_home_isolated(tmp_path_factory):
    """Daemons of this run keep their saved device states and spools in a folder of their own
    (``state_dir``/``spool_dir`` "auto" live under ``$XDG_STATE_HOME``), so no test resumes a
    device saved by another run."""
    home = tmp_path_factory.mktemp("state-home")
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many real-data tests were skipped, and why."""
    skipped = terminalreporter.stats.get("skipped", [])
    real = [r for r in skipped if "AFFECTSTREAM_SHARED_DATA" in str(r.longrepr)]
    if real:
        terminalreporter.write_line(
            f"real-data tests skipped: {len(real)} (no real recordings at {SHARED_DATA}; put "
            "the project's shared/ beside the checkout or set AFFECTSTREAM_SHARED_DATA)",
            yellow=True,
        )
    else:
        terminalreporter.write_line(f"real-data tests: all ran (recordings at {SHARED_DATA})")
