"""The daemon's TOML configuration: defaults for everything, errors that name the key.

Minimal working file::

    [broker]
    host = "127.0.0.1"
    port = 1883

    [[source]]
    kind = "mqtt"

    [[sink]]
    kind = "mqtt"

Credentials are given by reference only: ``username_env``/``password_env`` (environment
variables) or ``password_file``; a literal ``password`` key is refused.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from affectstream.data.recording import canonical_modality
from affectstream.stream.lsl_source import GENERIC_TYPES

SOURCE_KINDS = ("mqtt", "lsl", "replay")
SINK_KINDS = ("mqtt", "jsonl", "lsl")
#: The default LSL source types; any type naming a modality (case and aliases ignored:
#: ``gsr``, ``PPG``, ``temperature``) or a generic one (``bio``: by channel labels) is accepted.
LSL_TYPES = ("ECG", "EDA", "GSR", "TEMP", "BVP", "PPG", "bio")


class ConfigError(ValueError):
    """A configuration the daemon cannot run with; the message names the key."""


@dataclass(frozen=True)
class MqttSourceConfig:
    """``[[source]] kind = "mqtt"``: raw samples on a topic filter."""

    topic: str = "affectstream/+/raw/+"
    kind: ClassVar[str] = "mqtt"


@dataclass(frozen=True)
class LslSourceConfig:
    """``[[source]] kind = "lsl"``: LSL streams resolved by type (and optionally name or
    source id)."""

    types: list[str] = field(default_factory=lambda: list(LSL_TYPES))
    names: list[str] | None = None
    source_ids: list[str] | None = None
    max_buflen_s: int = 30  #: whole seconds (liblsl's buffer unit)
    kind: ClassVar[str] = "lsl"


@dataclass(frozen=True)
class ReplaySourceConfig:
    """``[[source]] kind = "replay"``: a recording replayed as one device."""

    path: str
    speed: float = 1.0  #: multiple of real time; 0: as fast as possible
    device: str | None = None
    kind: ClassVar[str] = "replay"


@dataclass(frozen=True)
class MqttSinkConfig:
    """``[[sink]] kind = "mqtt"``: records to ``affectstream/<device>/emotion``."""

    qos: int = 1
    kind: ClassVar[str] = "mqtt"


@dataclass(frozen=True)
class JsonlSinkConfig:
    """``[[sink]] kind = "jsonl"``: one JSON record per line to a file (``-``: stdout)."""

    path: str = "-"
    kind: ClassVar[str] = "jsonl"


@dataclass(frozen=True)
class LslSinkConfig:
    """``[[sink]] kind = "lsl"``: an ``Emotion`` probability stream and a marker stream."""

    name: str = "affectstream"
    kind: ClassVar[str] = "lsl"


SourceConfig = MqttSourceConfig | LslSourceConfig | ReplaySourceConfig
SinkConfig = MqttSinkConfig | JsonlSinkConfig | LslSinkConfig
_SOURCES: dict[str, type[SourceConfig]] = {
    "mqtt": MqttSourceConfig,
    "lsl": LslSourceConfig,
    "replay": ReplaySourceConfig,
}
_SINKS: dict[str, type[SinkConfig]] = {
    "mqtt": MqttSinkConfig,
    "jsonl": JsonlSinkConfig,
    "lsl": LslSinkConfig,
}


@dataclass
class BrokerConfig:
    """Where the MQTT broker is and how to log in."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    username_env: str = ""
    password_env: str = ""
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    keepalive_s: int = 30
    #: keep the session (its subscriptions and queued QoS 1 messages) at the broker while this
    #: client is away, so a restarted daemon receives what was published meanwhile; needs a
    #: fixed ``client_id``
    persistent_session: bool = False

    def credentials(self) -> tuple[str | None, str | None]:
        """Username and password, read from the environment or a file now."""
        user = os.environ.get(self.username_env) if self.username_env else None
        if self.username_env and user is None:
            raise ConfigError(
                f"broker.username_env: environment variable {self.username_env} is not set"
            )
        pw = None
        if self.password_env:
            pw = os.environ.get(self.password_env)
            if pw is None:
                raise ConfigError(
                    f"broker.password_env: environment variable {self.password_env} is not set"
                )
        elif self.password_file:
            try:
                pw = Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"broker.password_file: cannot read {self.password_file} ({exc.strerror})"
                ) from None
        return user, pw


@dataclass
class DaemonConfig:
    """Everything ``affectstream run`` needs."""

    model: str = "default"
    hop_s: float | None = None
    log_interval_s: float = 30.0
    queue_size: int = 10_000
    #: largest share of missing frames a predicted window may hold (None: the bundle's)
    max_missing: float | None = None
    spool_dir: str = "auto"
    #: seconds of a device's data between two ``calibrating`` records while it warms up (0: none)
    calibrating_every_s: float = 30.0
    #: most devices held at once; a new device beyond it is refused and counted
    max_devices: int = 1000
    #: a device without data for this many seconds is saved and dropped from memory
    idle_timeout_s: float = 300.0
    #: where each device's person state is kept across restarts (``auto``: under
    #: ``$XDG_STATE_HOME``; ``none``: not kept)
    state_dir: str = "auto"
    #: seconds between two saves of the devices whose state changed (and at shutdown)
    state_save_s: float = 30.0
    #: a saved state resumes when the device's data goes on within this many seconds
    resume_within_s: float = 900.0

    def resolved_state_dir(self) -> str | None:
        """Where device states are kept (None: not kept): ``auto`` is
        ``$XDG_STATE_HOME/affectstream/devices`` (``~/.local/state``)."""
        if self.state_dir == "none":
            return None
        if self.state_dir != "auto":
            return self.state_dir
        base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        return os.path.join(base, "affectstream", "devices")

    def resolved_spool_dir(self) -> str | None:
        """Where predictions wait while the broker is away: ``auto`` is a folder per broker
        under ``$XDG_STATE_HOME`` (``~/.local/state``); ``memory`` keeps them in memory."""
        if self.spool_dir == "memory":
            return None
        if self.spool_dir != "auto":
            return self.spool_dir
        base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        return os.path.join(base, "affectstream", "spool", f"{self.broker.host}_{self.broker.port}")

    broker: BrokerConfig = field(default_factory=BrokerConfig)
    sources: list[SourceConfig] = field(default_factory=list)
    sinks: list[SinkConfig] = field(default_factory=list)
    #: ``[cluster]``: run as one worker of a cluster on NATS JetStream (None: a plain daemon);
    #: the table as read, validated by :func:`affectstream.cluster.config.parse_cluster`
    cluster: dict[str, Any] | None = None

    @property
    def needs_broker(self) -> bool:
        """True when a source or sink speaks MQTT."""
        return any(s.kind == "mqtt" for s in [*self.sources, *self.sinks])


def _typed(section: str, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if (
        isinstance(value, bool)
        and kind is not bool
        and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise ConfigError(
            f"{section}{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}"
        )
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"{section}{key}: expected {name}, got {value!r}")
    return value


def parse_config(doc: dict[str, Any], base_dir: Path | None = None) -> DaemonConfig:
    """Validate a parsed TOML document into a :class:`DaemonConfig`."""
    doc = dict(doc)
    top: dict[str, type | tuple[type, ...]] = {
        "model": str,
        "hop_s": (int, float),
        "log_interval_s": (int, float),
        "queue_size": int,
        "max_missing": (int, float),
        "spool_dir": str,
        "calibrating_every_s": (int, float),
        "max_devices": int,
        "idle_timeout_s": (int, float),
        "state_dir": str,
        "state_save_s": (int, float),
        "resume_within_s": (int, float),
    }
    cfg = DaemonConfig()
    for key in list(doc):
        if key in top:
            setattr(cfg, key, _typed("", key, doc.pop(key), top[key]))
    if cfg.calibrating_every_s < 0:
        raise ConfigError(
            "calibrating_every_s: seconds between calibrating records, >= 0 (0: none); "
            f"got {cfg.calibrating_every_s}"
        )
    if cfg.max_devices < 1:
        raise ConfigError(f"max_devices: at least 1 device; got {cfg.max_devices}")
    for key in ("idle_timeout_s", "state_save_s", "resume_within_s"):
        if not getattr(cfg, key) > 0:
            raise ConfigError(f"{key}: a positive number of seconds; got {getattr(cfg, key)}")
    if cfg.hop_s is not None and cfg.hop_s <= 0:
        raise ConfigError(f"hop_s: must be a positive number of seconds; got {cfg.hop_s}")
    if "broker" in doc:
        b = doc.pop("broker")
        if not isinstance(b, dict):
            raise ConfigError("broker: must be a table [broker]")
        if "password" in b or "username" in b:
            raise ConfigError(
                "broker.password / broker.username: credentials never go in the "
                "config; use username_env/password_env or password_file"
            )
        fields_ = BrokerConfig.__dataclass_fields__
        for k, v in b.items():
            if k not in fields_:
                raise ConfigError(f"broker.{k}: unknown key; known: {', '.join(fields_)}")
            want = {"int": int, "str": str, "bool": bool}[str(fields_[k].type)]
            setattr(cfg.broker, k, _typed("broker.", k, v, want))
        if cfg.broker.persistent_session and not cfg.broker.client_id:
            raise ConfigError(
                "broker.persistent_session: the broker keeps a session by client id; set "
                "broker.client_id too"
            )
        if not 0 < cfg.broker.port < 65536:
            raise ConfigError(f"broker.port: {cfg.broker.port} is not a TCP port")
    if "cluster" in doc:  # ---- cluster mode (issue 24): sources are the RAW stream's partitions
        table = doc.pop("cluster")
        if not isinstance(table, dict):
            raise ConfigError("cluster: must be a table [cluster]")
        cfg.cluster = table
        if doc.get("source") or doc.get("sink"):
            raise ConfigError(
                "[cluster]: a cluster worker reads the RAW stream and publishes to EMOTION; "
                "remove the [[source]] and [[sink]] tables"
            )
        doc.pop("source", None)
        doc.pop("sink", None)
    for section, kinds in (("source", SOURCE_KINDS), ("sink", SINK_KINDS)):
        items = doc.pop(section, [])
        if not isinstance(items, list):
            raise ConfigError(f"{section}: write it as [[{section}]] tables")
        for i, item in enumerate(items):
            where = f"{section}[{i}]"
            kind = item.get("kind") if isinstance(item, dict) else None
            if kind not in kinds:
                raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(kinds)}")
            checked = _check_item(where, dict(item), base_dir)
            checked.pop("kind")
            if section == "source":
                cfg.sources.append(_SOURCES[kind](**checked))
            else:
                cfg.sinks.append(_SINKS[kind](**checked))
    if doc:
        raise ConfigError(
            f"{', '.join(sorted(doc))}: unknown key(s); known: model, hop_s, "
            "log_interval_s, queue_size, max_missing, spool_dir, calibrating_every_s, "
            "max_devices, idle_timeout_s, state_dir, state_save_s, resume_within_s, [broker], "
            "[[source]], [[sink]], [cluster]"
        )
    if cfg.cluster is not None:
        return cfg
    if not cfg.sources:
        raise ConfigError("source: the daemon needs at least one [[source]]")
    if not cfg.sinks:
        cfg.sinks.append(JsonlSinkConfig())
    return cfg


def _check_item(where: str, item: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    kind = item["kind"]
    allowed = {"kind"}
    if where.startswith("source"):
        if kind == "mqtt":
            allowed |= {"topic"}
            item.setdefault("topic", "affectstream/+/raw/+")
        elif kind == "lsl":
            allowed |= {"types", "names", "source_ids", "max_buflen_s"}
            buflen = item.get("max_buflen_s", 30)
            if isinstance(buflen, bool) or not isinstance(buflen, int) or buflen < 1:
                raise ConfigError(
                    f"{where}.max_buflen_s: whole seconds of samples an inlet buffers, >= 1; "
                    f"got {buflen!r}"
                )
            types = item.setdefault("types", list(LSL_TYPES))
            if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
                raise ConfigError(f"{where}.types: a list of LSL stream types; got {types!r}")
            bad = [
                t
                for t in types
                if canonical_modality(t) is None and t.strip().lower() not in GENERIC_TYPES
            ]
            if bad:
                raise ConfigError(
                    f"{where}.types: {bad} name no modality; use types such as "
                    f"{', '.join(LSL_TYPES)} (case and aliases like gsr, ppg, temperature are "
                    "accepted), or a generic type (bio, misc) to match by channel labels"
                )
        elif kind == "replay":
            allowed |= {"path", "speed", "device"}
            if "path" not in item:
                raise ConfigError(f"{where}.path: a replay source needs the recording's path")
            p = Path(item["path"])
            if base_dir is not None and not p.is_absolute():
                p = base_dir / p
            if not p.exists():
                raise ConfigError(f"{where}.path: {p} does not exist")
            item["path"] = str(p)
            speed = item.setdefault("speed", 1.0)
            if not isinstance(speed, int | float) or speed < 0:
                raise ConfigError(
                    f"{where}.speed: a multiple of real time >= 0 (0: as fast as "
                    f"possible); got {speed!r}"
                )
    else:
        if kind == "mqtt":
            allowed |= {"qos"}
            if item.setdefault("qos", 1) not in (0, 1, 2):
                raise ConfigError(f"{where}.qos: must be 0, 1 or 2")
        elif kind == "jsonl":
            allowed |= {"path"}
            item.setdefault("path", "-")
        elif kind == "lsl":
            allowed |= {"name"}
            item.setdefault("name", "affectstream")
    extra = set(item) - allowed
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(extra)} for kind {kind!r}; known: "
            f"{', '.join(sorted(allowed))}"
        )
    return item


def load_config(path: str | Path) -> DaemonConfig:
    """Read and validate a TOML config file."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    return parse_config(doc, p.parent)
