"""The ``[cluster]`` section of the daemon's TOML: ``affectstream run`` becomes one worker of a
cluster on NATS JetStream (see the README, "Running on many machines")::

    [cluster]
    url = "nats://10.0.0.5:4222"     # one or more servers, comma-separated
    partitions = 1024                # P: fixed when the RAW stream is made, never changed
    name = "worker-a"                # default: <hostname>-<pid>

Imports nothing of NATS: the plain daemon parses configs with it too.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, fields
from typing import Any

from affectstream.stream.config import ConfigError


@dataclass
class ClusterConfig:
    """Where the NATS servers are and how the cluster's streams are laid out.

    All times are seconds.
    """

    url: str = "nats://127.0.0.1:4222"
    #: this worker's name in the membership bucket (default ``<hostname>-<pid>``)
    name: str = ""
    #: a NATS credentials file (by reference; never inline secrets)
    creds_file: str = ""
    #: P, the number of partitions of RAW; permanent once the stream exists
    partitions: int = 16
    raw_stream: str = "RAW"
    emotion_stream: str = "EMOTION"
    members_bucket: str = "affectstream_members"
    states_bucket: str = "affectstream_states"
    #: a worker not heard of for this long is taken for dead; its partitions move
    member_ttl_s: float = 10.0
    #: a partition's pin is released when its reader makes no pull request for this long
    pin_ttl_s: float = 5.0
    #: a message delivered but not acknowledged for this long is delivered again
    ack_wait_s: float = 30.0
    #: how long RAW keeps raw messages: at least a window plus ``state_save_s`` plus
    #: ``mark_every_s`` (a moved device's last window is re-made from them)
    raw_retention_s: float = 3600.0
    #: how long EMOTION remembers a ``Nats-Msg-Id`` (a replayed prediction is dropped within it)
    duplicate_window_s: float = 900.0
    #: how long EMOTION keeps predictions
    emotion_retention_s: float = 86400.0
    #: seconds of a device's frames between two DSP marks (see :mod:`.handover`)
    mark_every_s: float = 10.0
    #: most messages one pull request asks for
    batch: int = 256
    #: replicas of the streams and buckets (3 on a 3-node JetStream cluster)
    replicas: int = 1

    def worker_name(self) -> str:
        """The configured name, or ``<hostname>-<pid>``."""
        return self.name or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def heartbeat_s(self) -> float:
        """Seconds between two membership heartbeats (a third of the TTL)."""
        return self.member_ttl_s / 3


_POSITIVE = (
    "member_ttl_s",
    "pin_ttl_s",
    "ack_wait_s",
    "raw_retention_s",
    "duplicate_window_s",
    "emotion_retention_s",
    "mark_every_s",
)


def parse_cluster(table: Any) -> ClusterConfig:
    """Validate a ``[cluster]`` table.

    Raises
    ------
    ConfigError
        Naming the key that is wrong.
    """
    if not isinstance(table, dict):
        raise ConfigError("cluster: must be a table [cluster]")
    cfg = ClusterConfig()
    known = {f.name: f for f in fields(ClusterConfig)}
    for k, v in table.items():
        if k not in known:
            raise ConfigError(f"cluster.{k}: unknown key; known: {', '.join(known)}")
        default = getattr(cfg, k)
        want: type | tuple[type, ...] = (
            (int, float) if isinstance(default, float) else type(default)
        )
        if isinstance(v, bool) or not isinstance(v, want):
            raise ConfigError(f"cluster.{k}: expected {type(default).__name__}, got {v!r}")
        setattr(
            cfg, k, float(v) if isinstance(v, int | float) and isinstance(default, float) else v
        )
    if not 1 <= cfg.partitions <= 100_000:
        raise ConfigError(f"cluster.partitions: 1 to 100000 partitions; got {cfg.partitions}")
    for k in _POSITIVE:
        if not getattr(cfg, k) > 0:
            raise ConfigError(f"cluster.{k}: a positive number of seconds; got {getattr(cfg, k)}")
    if cfg.batch < 1:
        raise ConfigError(f"cluster.batch: at least 1 message; got {cfg.batch}")
    if cfg.replicas not in (1, 3, 5):
        raise ConfigError(f"cluster.replicas: 1, 3 or 5; got {cfg.replicas}")
    for k in ("raw_stream", "emotion_stream", "members_bucket", "states_bucket"):
        if not getattr(cfg, k).replace("_", "").replace("-", "").isalnum():
            raise ConfigError(
                f"cluster.{k}: letters, digits, - and _ only; got {getattr(cfg, k)!r}"
            )
    if cfg.name and (not cfg.name.replace("-", "").replace("_", "").isalnum()):
        raise ConfigError(f"cluster.name: letters, digits, - and _ only; got {cfg.name!r}")
    return cfg
