"""The JetStream objects of a cluster, made idempotently by whichever worker starts first, and
the two ways a worker reads RAW: a partition's durable consumer with pinned-client failover, and
one device's replay.

nats-py 2.16 has no priority groups (ADR-42, nats-server 2.11+), so the consumer is made and
pulled through the JetStream API directly: ``$JS.API.CONSUMER.CREATE`` with
``priority_groups``/``priority_policy: pinned_client``/``priority_timeout``, pull requests with
``group`` and the ``id`` of the pin (the ``Nats-Pin-Id`` header of the messages), status 423
when the pin moved, and ``$JS.API.CONSUMER.UNPIN`` to hand a partition over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from affectstream.cluster.config import ClusterConfig
from affectstream.cluster.partitions import (
    EMOTION_REPUBLISH,
    EMOTION_SUBJECTS,
    RAW_INGEST,
    consumer_name,
    device_filter,
    partition_filter,
    raw_transform,
)

log = logging.getLogger("affectstream.cluster")

#: The priority group every worker pulls in.
GROUP = "affectstream"
NS = 1_000_000_000


class JetStreamError(RuntimeError):
    """A JetStream API request failed; the message is the server's."""


async def api(nc: Any, subject: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """One JetStream API request (``$JS.API.<subject>``); the response as a dict.

    Raises
    ------
    JetStreamError
        When the server answers with an error.
    """
    msg = await nc.request(f"$JS.API.{subject}", json.dumps(body).encode(), timeout=timeout)
    resp: dict[str, Any] = json.loads(msg.data or b"{}")
    err = resp.get("error")
    if err:
        raise JetStreamError(f"{subject}: {err.get('description', err)} ({err.get('err_code')})")
    return resp


def raw_stream_config(c: ClusterConfig) -> dict[str, Any]:
    """RAW: raw samples by partition, kept ``raw_retention_s``."""
    return {
        "name": c.raw_stream,
        "subjects": [RAW_INGEST],
        "subject_transform": {"src": RAW_INGEST, "dest": raw_transform(c.partitions)},
        "storage": "file",
        "retention": "limits",
        "max_age": int(c.raw_retention_s * NS),
        "num_replicas": c.replicas,
        "discard": "old",
    }


def emotion_stream_config(c: ClusterConfig) -> dict[str, Any]:
    """EMOTION: predictions, de-duplicated by ``Nats-Msg-Id`` over ``duplicate_window_s``, each
    stored one republished to ``affectstream.<device>.emotion`` (MQTT subscribers)."""
    return {
        "name": c.emotion_stream,
        "subjects": [EMOTION_SUBJECTS],
        "storage": "file",
        "retention": "limits",
        "max_age": int(c.emotion_retention_s * NS),
        "duplicate_window": int(min(c.duplicate_window_s, c.emotion_retention_s) * NS),
        "num_replicas": c.replicas,
        "republish": {"src": EMOTION_SUBJECTS, "dest": EMOTION_REPUBLISH},
    }


async def ensure_stream(nc: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """Make a stream, or check the one there; returns its config.

    Raises
    ------
    JetStreamError
        When RAW exists with another partition count (P is permanent: a new P needs a new
        stream and a migration).
    """
    name = cfg["name"]
    try:
        info = await api(nc, f"STREAM.INFO.{name}", {})
    except JetStreamError as exc:
        if "not found" not in str(exc):
            raise
        return (await api(nc, f"STREAM.CREATE.{name}", cfg))["config"]  # type: ignore[no-any-return]
    have: dict[str, Any] = info["config"]
    want_t = cfg.get("subject_transform")
    if want_t is not None and have.get("subject_transform") != want_t:
        raise JetStreamError(
            f"stream {name} exists with subject transform {have.get('subject_transform')}, not "
            f"{want_t}: the partition count P is fixed when the stream is made; use the "
            "stream's P in [cluster] partitions, or make a new stream"
        )
    return have


def partition_consumer_config(c: ClusterConfig, p: int) -> dict[str, Any]:
    """Partition ``p``'s durable consumer: explicit acks, one pinned reader at a time."""
    return {
        "durable_name": consumer_name(p),
        "filter_subject": partition_filter(p),
        "ack_policy": "explicit",
        "ack_wait": int(c.ack_wait_s * NS),
        "deliver_policy": "all",
        "max_ack_pending": 4 * c.batch,
        "max_waiting": 64,
        "priority_groups": [GROUP],
        "priority_policy": "pinned_client",
        "priority_timeout": int(c.pin_ttl_s * NS),
        "num_replicas": c.replicas,
    }


async def ensure_consumers(nc: Any, c: ClusterConfig) -> None:
    """Make every partition's consumer (those there are left as they are)."""
    for p in range(c.partitions):
        name = consumer_name(p)
        try:
            await api(nc, f"CONSUMER.INFO.{c.raw_stream}.{name}", {})
            continue
        except JetStreamError as exc:
            if "not found" not in str(exc):
                raise
        body = {"stream_name": c.raw_stream, "config": partition_consumer_config(c, p)}
        await api(nc, f"CONSUMER.CREATE.{c.raw_stream}.{name}", body)


async def unpin(nc: Any, c: ClusterConfig, p: int) -> None:
    """Release partition ``p``'s pin now (the next pull request of any worker gets it)."""
    await api(nc, f"CONSUMER.UNPIN.{c.raw_stream}.{consumer_name(p)}", {"group": GROUP})


def _ack_tokens(msg: Any) -> list[str]:
    """The ``$JS.ACK`` reply subject's tokens from ``<stream>`` on: ``$JS.ACK.<stream>.
    <consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` (9 tokens), or with ``<domain>.
    <account hash>`` after ``ACK`` and a random token at the end (12)."""
    parts = str(msg.reply).split(".")
    return parts[2:] if len(parts) == 9 else parts[4:11]


def stream_seq(msg: Any) -> int:
    """The stream sequence of a delivered message."""
    return int(_ack_tokens(msg)[3])


def num_pending(msg: Any) -> int:
    """Messages the consumer still has for its filter after this one."""
    return int(_ack_tokens(msg)[6])


class PinnedPuller:
    """Pulls one partition in the priority group, keeping its pin.

    Parameters
    ----------
    nc
        The NATS connection.
    cfg
        The cluster config.
    p
        The partition.
    """

    def __init__(
        self,
        nc: Any,
        cfg: ClusterConfig,
        p: int,
        on_pin_lost: Callable[[int], None] | None = None,
    ) -> None:
        self.nc = nc
        self.cfg = cfg
        self.p = p
        self.pin: str | None = None
        #: called with the partition when the server says the pin went to another reader
        #: (this one made no pull request for ``pin_ttl_s``): what it holds of the partition
        #: is stale from then on
        self.on_pin_lost = on_pin_lost
        self.pins_lost = 0
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{cfg.raw_stream}.{consumer_name(p)}"

    async def run(
        self,
        keep_going: Callable[[], bool],
        handle: Callable[[Any], Awaitable[None]],
    ) -> None:
        """Pull and ``handle`` messages (in order) while ``keep_going()``.

        Pull requests go out from a task of their own, at least every third of ``pin_ttl_s``,
        so the pin is kept while a message takes long (a device taken over replays its raw
        messages); a new request asks for a batch only while fewer than a batch wait here.
        A partition let go stops at once: what was delivered and not handled is delivered
        again to its next reader.
        """
        every = max(0.05, min(1.0, self.cfg.pin_ttl_s / 3))
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        requester = asyncio.create_task(self._request(sub, inbox, keep_going, every))
        try:
            while keep_going():
                try:
                    msg = await sub.next_msg(timeout=every)
                except Exception:  # noqa: BLE001 - a timeout, or reconnecting: wait on
                    if requester.done():
                        requester.result()  # re-raise what stopped it
                    continue
                if self._status(msg):
                    continue
                pin = msg.headers.get("Nats-Pin-Id") if msg.headers else None
                if pin:
                    self.pin = pin
                await handle(msg)
        finally:
            requester.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await requester
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _request(
        self, sub: Any, inbox: str, keep_going: Callable[[], bool], every: float
    ) -> None:
        while keep_going():
            waiting = sub.pending_msgs
            req: dict[str, Any] = {
                "batch": self.cfg.batch if waiting < self.cfg.batch else 1,
                "expires": int(every * NS),
                "group": GROUP,
            }
            if self.pin:
                req["id"] = self.pin
            try:
                await self.nc.publish(self.subject, json.dumps(req).encode(), reply=inbox)
            except Exception as exc:  # noqa: BLE001 - reconnecting: ask again later
                log.debug("partition %d: pull request failed: %r", self.p, exc)
            await asyncio.sleep(every)

    def _status(self, msg: Any) -> bool:
        """True for a status message (handled here), False for a message to handle."""
        status = msg.headers.get("Status") if msg.headers else None
        if not status:
            return False
        if status == "423":  # the pin moved to another reader: ask without one
            if self.pin is not None:
                self.pins_lost += 1
                if self.on_pin_lost is not None:
                    self.on_pin_lost(self.p)
            self.pin = None
        elif status not in ("404", "408", "409", "100"):
            log.warning("partition %d: pull status %s %s", self.p, status, msg.headers)
        return True


async def replay(
    nc: Any, c: ClusterConfig, device: str, first: int, last: int
) -> AsyncIterator[tuple[int, str, bytes]]:
    """``(stream seq, subject, payload)`` of ``device``'s raw messages with ``first <= seq <=
    last``, in stream order (an ephemeral consumer, deleted afterwards)."""
    if last < first:
        return
    cfg: dict[str, Any] = {
        "filter_subject": device_filter(device),
        "ack_policy": "none",
        "inactive_threshold": 30 * NS,
        "mem_storage": True,
        "num_replicas": 1,
    }
    if first > 1:
        cfg.update(deliver_policy="by_start_sequence", opt_start_seq=first)
    else:
        cfg["deliver_policy"] = "all"
    info = await api(
        nc, f"CONSUMER.CREATE.{c.raw_stream}", {"stream_name": c.raw_stream, "config": cfg}
    )
    name = info["name"]
    if info.get("num_pending", 0) == 0:
        await _delete(nc, c, name)
        return
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{c.raw_stream}.{name}"
    pending = int(info.get("num_pending", 1))
    empty = 0
    try:
        while pending > 0 and empty < 5:
            req = {"batch": 500, "expires": NS}
            await nc.publish(subject, json.dumps(req).encode(), reply=inbox)
            n = 0
            while n < 500:
                msg = await sub.next_msg(timeout=10)
                if msg.headers and msg.headers.get("Status"):
                    break  # the request is over (it may have returned fewer than there are)
                n += 1
                seq = stream_seq(msg)
                pending = num_pending(msg)
                if seq > last:
                    return
                yield seq, msg.subject, msg.data
                if seq == last or pending == 0:
                    return
            empty = 0 if n else empty + 1
        if pending > 0:
            log.warning("replay of device %s stopped with %d messages unread", device, pending)
    finally:
        await sub.unsubscribe()
        await _delete(nc, c, name)


async def _delete(nc: Any, c: ClusterConfig, name: str) -> None:
    try:
        await api(nc, f"CONSUMER.DELETE.{c.raw_stream}.{name}", {})
    except Exception as exc:  # noqa: BLE001 - an ephemeral consumer goes away by itself anyway
        log.debug("could not delete replay consumer %s: %r", name, exc)
