"""Where prediction records go: a Python callback, JSON lines, MQTT, an LSL outlet."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from affectstream.stream.payload import emotion_topic
from affectstream.stream.records import PredictionRecord

#: What every sink receives.
Record = PredictionRecord


class Sink:
    """Receives every record; ``emit`` must not raise for a bad record (log and count)."""

    async def emit(self, record: Record) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:
        """Flush and release resources."""


class CallbackSink(Sink):
    """Calls ``fn(record)`` (a plain or an async function) for every record."""

    def __init__(self, fn: Callable[[Record], Any]) -> None:
        self.fn = fn

    async def emit(self, record: Record) -> None:
        res = self.fn(record)
        if isinstance(res, Awaitable):
            await res


class JsonLinesSink(Sink):
    """One JSON object per line, to a file (appended) or to stdout (``"-"``)."""

    def __init__(self, path: str | Path = "-") -> None:
        self.path = str(path)
        self._fh: IO[str] = sys.stdout if self.path == "-" else open(self.path, "a")  # noqa: SIM115

    async def emit(self, record: Record) -> None:
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()

    async def close(self) -> None:
        if self._fh is not sys.stdout:
            self._fh.close()


class MqttSink(Sink):
    """Publishes each record as JSON to ``affectstream/<device>/emotion`` (QoS 1 by default).

    ``publish`` is an async callable ``(topic, payload, qos)``; the daemon passes its
    connection's publish, which spools records while the broker is away.
    """

    def __init__(self, publish: Callable[[str, bytes, int], Awaitable[None]], qos: int = 1) -> None:
        self.publish = publish
        self.qos = qos

    async def emit(self, record: Record) -> None:
        payload = json.dumps(record, separators=(",", ":")).encode()
        await self.publish(emotion_topic(record["device"]), payload, self.qos)


class LslSink(Sink):
    """Two LSL outlets: class probabilities (type ``Emotion``, irregular rate) and labels
    (a string marker stream, type ``Markers``). Each sample carries the device in the marker
    stream (``device:label``) and, for probabilities, one outlet per device."""

    def __init__(self, classes: list[str], name: str = "affectstream", source_id: str = "") -> None:
        import pylsl

        self._pylsl = pylsl
        self.classes = classes
        self.name = name
        self.source_id = source_id or name
        self._prob_outlets: dict[str, Any] = {}
        info = pylsl.StreamInfo(
            f"{name}-labels",
            "Markers",
            1,
            pylsl.IRREGULAR_RATE,
            pylsl.cf_string,
            f"{self.source_id}-labels",
        )
        self._labels = pylsl.StreamOutlet(info)

    def _outlet(self, device: str) -> Any:
        out = self._prob_outlets.get(device)
        if out is None:
            pylsl = self._pylsl
            info = pylsl.StreamInfo(
                f"{self.name}-{device}",
                "Emotion",
                len(self.classes),
                pylsl.IRREGULAR_RATE,
                pylsl.cf_float32,
                f"{self.source_id}-{device}",
            )
            chans = info.desc().append_child("channels")
            for c in self.classes:
                ch = chans.append_child("channel")
                ch.append_child_value("label", c)
                ch.append_child_value("unit", "probability")
                ch.append_child_value("type", "Emotion")
            info.desc().append_child_value("device", device)
            out = self._prob_outlets[device] = pylsl.StreamOutlet(info)
        return out

    async def emit(self, record: Record) -> None:
        ts = self._pylsl.local_clock()
        if record["label"] is not None:
            self._outlet(record["device"]).push_sample(
                [record["probs"][c] for c in self.classes], ts
            )
        label = record["label"] if record["label"] is not None else "abstain"
        self._labels.push_sample([f"{record['device']}:{label}"], ts)

    async def close(self) -> None:
        self._prob_outlets.clear()
        self._labels = None
