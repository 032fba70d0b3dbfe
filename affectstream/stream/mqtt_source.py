"""MQTT ingest: raw-sample messages from the daemon's broker connection, decoded into chunks.

The connection itself (:class:`~affectstream.stream.mqtt_link.MqttLink`) is shared with the
MQTT sink; this source only turns messages into :class:`ChunkEvent`. With the default topic
filter it also listens one and two levels deeper (``affectstream/+/+/raw/+``,
``affectstream/+/+/+/raw/+``: filters that cannot overlap the default, so nothing arrives
twice), so a device id holding a ``/`` is refused with a message instead of never received.
"""

from __future__ import annotations

import asyncio
import time

from affectstream.stream.events import CLOCK_UNIX, ChunkEvent
from affectstream.stream.payload import (
    RAW_TOPIC_FILTER,
    TOPIC_PREFIX,
    PayloadError,
    RawChunk,
    decode_chunk,
    parse_topic,
)
from affectstream.stream.problems import Problems
from affectstream.stream.source import Emit

#: Filters that catch raw topics whose device id has one or two ``/`` in it.
DEEP_RAW_FILTERS = (f"{TOPIC_PREFIX}/+/+/raw/+", f"{TOPIC_PREFIX}/+/+/+/raw/+")


class MqttSource:
    """Raw samples over MQTT (``affectstream/<device>/raw/<modality>``, JSON; see
    :mod:`affectstream.stream.payload`).

    Parameters
    ----------
    topics
        Topic filters of the configured MQTT sources.
    problems
        Where bad messages are counted and logged (per device and kind).
    """

    def __init__(self, topics: list[str], problems: Problems) -> None:
        self.configured = list(dict.fromkeys(topics))
        self.problems = problems
        self._emit: Emit | None = None

    @property
    def topics(self) -> list[str]:
        """What to subscribe to: the configured filters, and the deep ones beside the default."""
        extra = list(DEEP_RAW_FILTERS) if RAW_TOPIC_FILTER in self.configured else []
        return self.configured + extra

    async def run(self, stop: asyncio.Event, emit: Emit) -> None:
        """Hand every message the link receives to :meth:`handle` until cancelled.

        It goes on after ``stop``: the link then hands on the messages it had already
        acknowledged to the broker (see :meth:`MqttLink.run`); cancel this task once the link's
        ``input_closed`` is set.
        """
        del stop  # the link decides when input ends
        self._emit = emit
        try:
            await asyncio.Future()
        finally:
            self._emit = None

    async def handle(self, topic: str, payload: bytes) -> bool:
        """Decode one message and emit its chunk; False when it was refused (counted)."""
        recv = time.perf_counter()
        parts = topic.split("/")
        if len(parts) > 4 and parts[0] == TOPIC_PREFIX and parts[-2] == "raw":
            device = "/".join(parts[1:-2])
            self.problems.bad(
                "bad_topics",
                device,
                f"{topic}: device id {device!r} holds '/', which makes it several topic "
                f"levels; a device id is one level of A-Z a-z 0-9 . _ - (publish on "
                f"{TOPIC_PREFIX}/{device.replace('/', '-')}/raw/{parts[-1]})",
            )
            return False
        try:
            device, _ = parse_topic(topic)
        except PayloadError as exc:
            self.problems.bad("bad_topics", topic, str(exc))
            return False
        try:
            ch = decode_chunk(topic, payload)
        except PayloadError as exc:
            self.problems.bad("bad_payloads", device, f"{topic}: {exc}")
            return False
        if self._emit is None:
            return False
        return await self._emit(chunk_event(ch, topic, recv))


def chunk_event(ch: RawChunk, topic: str, received: float) -> ChunkEvent:
    """The validator's event of a chunk decoded from ``topic`` (samples stamped on the Unix
    clock; ``received``: ``time.perf_counter()`` when it arrived)."""
    return ChunkEvent(
        ch.device,
        ch.modality,
        ch.samples,
        ch.t0 if ch.timestamps is None else None,
        ch.timestamps,
        received,
        fs=ch.fs,
        seq=ch.seq,
        stream=topic,
        clock=CLOCK_UNIX,
    )
