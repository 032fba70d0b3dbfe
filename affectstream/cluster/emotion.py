"""Predictions to the EMOTION stream, each once: ``Nats-Msg-Id = <device>:<window end>``, and
the on-disk spool (:class:`~affectstream.stream.spool.DiskSpool`) as the outbox while NATS is
away (delivered in order when it is back; JetStream drops what it already has)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from affectstream.stream.records import PredictionRecord
from affectstream.stream.spool import DiskSpool

log = logging.getLogger("affectstream.cluster")

#: Predictions held while NATS is unreachable (oldest dropped beyond this, counted).
SPOOL_MAX = 100_000


def emotion_subject(device: str) -> str:
    """The EMOTION subject of ``device``'s predictions."""
    return f"emotion.{device}"


def msg_id(record: PredictionRecord | dict[str, Any]) -> str:
    """The de-duplication id of a record: ``<device>:<window end>`` (seconds, as in ``t``)."""
    return f"{record['device']}:{record['t']!r}"


class EmotionPublisher:
    """Publishes records to EMOTION and waits for the stream's acknowledgement.

    Parameters
    ----------
    js
        A nats-py JetStream context.
    stream
        The stream's name (checked in each acknowledgement).
    spool_dir
        Where the outbox lives (None: in memory).
    timeout_s
        Seconds to wait for an acknowledgement before the record goes to the spool.
    """

    def __init__(
        self, js: Any, stream: str, spool_dir: str | Path | None, timeout_s: float = 2.0
    ) -> None:
        self.js = js
        self.stream = stream
        self.timeout_s = timeout_s
        self.spool = DiskSpool(spool_dir, SPOOL_MAX)
        self.counters = {"published": 0, "duplicates": 0, "spooled": 0, "spool_dropped": 0}
        #: one publisher for all the worker's partitions: the spool is drained by one at a time
        self._lock = asyncio.Lock()

    async def _send(self, subject: str, payload: bytes, mid: str) -> None:
        ack = await self.js.publish(
            subject,
            payload,
            timeout=self.timeout_s,
            stream=self.stream,
            headers={"Nats-Msg-Id": mid},
        )
        self.counters["published"] += 1
        if getattr(ack, "duplicate", False):
            self.counters["duplicates"] += 1

    async def drain(self) -> bool:
        """Send what is spooled, oldest first; False when NATS is still away."""
        async with self._lock:
            return await self._drain()

    async def _drain(self) -> bool:
        while self.spool:
            subject, payload, _ = self.spool.peek()
            try:
                await self._send(subject, payload, msg_id(json.loads(payload)))
            except Exception as exc:  # noqa: BLE001 - NATS away: keep it for later
                log.debug("spool drain stopped: %r", exc)
                return False
            self.spool.pop()
        return True

    async def publish(self, record: PredictionRecord) -> None:
        """Publish one record, or spool it (and all after it, in order) while NATS is away."""
        payload = json.dumps(record, separators=(",", ":")).encode()
        subject = emotion_subject(record["device"])
        async with self._lock:
            if await self._drain():
                try:
                    await self._send(subject, payload, msg_id(record))
                    return
                except Exception as exc:  # noqa: BLE001 - NATS away: the spool is the outbox
                    log.warning("EMOTION publish failed (%r); spooling", exc)
            self.spool.append((subject, payload, 1))
            self.counters["spooled"] += 1
            self.counters["spool_dropped"] = self.spool.dropped
