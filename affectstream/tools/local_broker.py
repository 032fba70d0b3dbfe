"""A mosquitto of the benchmarks' own on a free loopback port, started and stopped by PID."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Return once something listens on 127.0.0.1:``port``.

    Raises
    ------
    RuntimeError
        When nothing does within ``timeout`` seconds.
    """
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def stop_process(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM ``proc`` and wait for it; SIGKILL after ``grace_s`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class LocalMosquitto:
    """mosquitto on 127.0.0.1 with a config of its own in ``workdir``.

    Parameters
    ----------
    workdir
        Holds the config (and the persistence database when ``persistent``).
    port
        Default: a free one.
    persistent
        Keep retained and queued QoS 1 messages across :meth:`restart` (``persistence true``).
    extra
        More lines of mosquitto configuration.
    """

    def __init__(
        self,
        workdir: str | Path,
        port: int | None = None,
        persistent: bool = False,
        extra: str = "",
    ) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise RuntimeError("this benchmark needs mosquitto: apt-get install -y mosquitto")
        self.exe = exe
        self.workdir = Path(workdir)
        self.port = free_port() if port is None else port
        db = self.workdir / f"mosquitto-db-{self.port}"
        db.mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / f"mosquitto-{self.port}.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
            # started as root, mosquitto becomes user "mosquitto" unless told to stay: it then
            # cannot write its database (or log) here, and "persistence true" silently keeps
            # nothing across a restart
            f"user {getpass.getuser()}\n"
            + (
                f"persistence true\npersistence_location {db}/\n"
                if persistent
                else "persistence false\n"
            )
            + extra
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalMosquitto:
        """Start it and wait until it listens."""
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its database), then wait; SIGKILL after 5 s."""
        if self.proc is not None:
            stop_process(self.proc, 5.0)
        self.proc = None

    def restart(self, down_s: float = 0.5) -> None:
        """Stop, stay away ``down_s`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()
