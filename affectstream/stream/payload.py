"""The MQTT wire format for raw samples: topics, JSON payloads, validation.

Topic: ``affectstream/<device>/raw/<modality>``. Payload, UTF-8 JSON::

    {"t0": 1700000000.0,          # time of the first sample, seconds (Unix time)
     "fs": 64.0,                  # sampling rate, Hz
     "channels": ["bvp"],         # one name per column
     "seq": 42,                   # per topic: +1 per message on this topic
     "samples": [0.1, 0.2, ...]}  # one value per sample, or one list per sample when several
                                  # channels; null is a missing sample

An irregular stream (``ibi``: one beat interval in seconds per beat) adds ``"t": [...]``, one
time per sample (seconds, increasing; ``t0`` is then ``t[0]``), and may send ``"fs": 0``.
``<modality>`` ``hr`` is a heart rate in beats/min (about 1 Hz), ``ibi`` beat intervals in s.

``<modality>`` may be an alias (``gsr`` for EDA, ``ppg`` for BVP, ``temperature``/``skt`` for TEMP;
:data:`affectstream.data.recording.MODALITY_ALIASES`), in any case: the same aliases as LSL
stream types. A device id is one topic level (no ``/``).

Predictions go to ``affectstream/<device>/emotion``. Nothing received is ever unpickled or
evaluated; payloads over :data:`MAX_PAYLOAD_BYTES` or nested deeper than a list of lists are
refused before parsing their numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.stream.device_ids import device_id_problem

TOPIC_PREFIX = "affectstream"
RAW_TOPIC_FILTER = f"{TOPIC_PREFIX}/+/raw/+"
#: Largest accepted payload, bytes (about 30 s of 3-channel 256 Hz data as JSON).
MAX_PAYLOAD_BYTES = 256 * 1024
#: Largest accepted chunk, samples.
MAX_SAMPLES = 20_000


class PayloadError(ValueError):
    """A message that cannot be used; the message says why."""


@dataclass(frozen=True)
class RawChunk:
    """A decoded, validated chunk of samples."""

    device: str
    modality: str
    t0: float
    fs: float
    channels: tuple[str, ...]
    seq: int
    samples: np.ndarray  #: shape (n, n_channels), float64, NaN for missing
    timestamps: np.ndarray | None = None  #: per-sample times (s), shape (n,), when irregular


def raw_topic(device: str, modality: str) -> str:
    """The topic a device publishes one modality's samples on."""
    return f"{TOPIC_PREFIX}/{device}/raw/{modality}"


def emotion_topic(device: str) -> str:
    """The topic predictions for ``device`` are published on."""
    return f"{TOPIC_PREFIX}/{device}/emotion"


def parse_topic(topic: str) -> tuple[str, str]:
    """``(device, modality)`` of a raw topic."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != TOPIC_PREFIX or parts[2] != "raw":
        raise PayloadError(f"topic {topic!r} is not {TOPIC_PREFIX}/<device>/raw/<modality>")
    device, modality = parts[1], parts[3]
    problem = device_id_problem(device)
    if problem is not None:
        raise PayloadError(problem)
    return device, modality.lower()


def encode_chunk(
    t0: float,
    fs: float,
    channels: list[str] | tuple[str, ...],
    seq: int,
    samples: np.ndarray,
    timestamps: np.ndarray | None = None,
) -> bytes:
    """The JSON payload for a chunk; NaN samples become null; ``timestamps`` (seconds, one per
    sample) for an irregular stream."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    vals = x.tolist()
    if not np.isfinite(x).all():

        def clean(v: Any) -> Any:
            if isinstance(v, list):
                return [clean(u) for u in v]
            return v if math.isfinite(v) else None

        vals = clean(vals)
    doc: dict[str, Any] = {"t0": t0, "fs": fs, "channels": list(channels), "seq": seq}
    if timestamps is not None:
        doc["t"] = np.asarray(timestamps, dtype=np.float64).tolist()
    doc["samples"] = vals
    return json.dumps(doc, separators=(",", ":")).encode()


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise PayloadError(f"{what} must be a finite number; got {v!r}"[:200])
    return float(v)


def decode_chunk(topic: str, payload: bytes | bytearray | str) -> RawChunk:
    """Validate and decode one raw-samples message.

    Raises
    ------
    PayloadError
        Naming what is wrong: topic, size, JSON, a missing or mistyped key, ragged samples.
    """
    device, modality = parse_topic(topic)
    size = len(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"payload of {size} bytes exceeds {MAX_PAYLOAD_BYTES}; send smaller chunks"
        )
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8 text") from None
    depth = 0
    for ch in text:  # refuse deep nesting before the JSON parser recurses into it
        if ch in "[{":
            depth += 1
            if depth > 3:
                raise PayloadError(
                    "payload is nested too deeply; samples are a list or a list of lists"
                )
        elif ch in "]}":
            depth -= 1
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"payload is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PayloadError("payload must be a JSON object with t0, fs, channels, seq, samples")
    missing = [k for k in ("t0", "fs", "channels", "seq", "samples") if k not in doc]
    if missing:
        raise PayloadError(f"payload lacks {missing}")
    t0 = _number(doc["t0"], "t0")
    fs = _number(doc["fs"], "fs")
    if fs < 0 or (fs == 0 and "t" not in doc):
        raise PayloadError(
            f"fs must be a positive rate in Hz (0 only with per-sample times 't'); got {fs}"
        )
    seq = doc["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise PayloadError(f"seq must be a non-negative integer; got {seq!r}"[:200])
    chans = doc["channels"]
    if (
        not isinstance(chans, list)
        or not chans
        or len(chans) > 16
        or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in chans)
    ):
        raise PayloadError("channels must be a list of 1 to 16 channel names")
    s = doc["samples"]
    if not isinstance(s, list) or not s:
        raise PayloadError("samples must be a non-empty list")
    if len(s) > MAX_SAMPLES:
        raise PayloadError(f"{len(s)} samples in one message; at most {MAX_SAMPLES}")
    n_ch = len(chans)
    try:
        if n_ch == 1 and not isinstance(s[0], list):
            arr = np.array([np.nan if v is None else v for v in s], dtype=np.float64)[:, None]
            if any(isinstance(v, bool | str | list | dict) for v in s):
                raise TypeError
        else:
            if not all(isinstance(r, list) and len(r) == n_ch for r in s):
                raise LookupError
            if any(isinstance(v, bool | str | list | dict) for r in s for v in r):
                raise TypeError
            arr = np.array([[np.nan if v is None else v for v in r] for r in s], dtype=np.float64)
    except LookupError:
        raise PayloadError(
            f"every sample must be a list of {n_ch} values, one per channel"
        ) from None
    except (TypeError, ValueError):
        raise PayloadError("samples must be numbers (or null for a missing sample)") from None
    ts = None
    if "t" in doc:
        t = doc["t"]
        if (
            not isinstance(t, list)
            or len(t) != len(s)
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in t)
        ):
            raise PayloadError(f"t must be a list of {len(s)} times in seconds, one per sample")
        ts = np.asarray(t, dtype=np.float64)
        if not np.isfinite(ts).all() or np.any(np.diff(ts) <= 0):
            raise PayloadError("t must hold finite times that increase, one per sample")
        t0 = float(ts[0])
    return RawChunk(device, modality, t0, fs, tuple(chans), seq, arr, ts)
