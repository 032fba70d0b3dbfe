"""One MQTT connection for the daemon: subscribe to raw samples, publish predictions,
reconnect with back-off, and hold predictions in order while the broker is away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from affectstream.stream.config import BrokerConfig
from affectstream.stream.spool import DiskSpool

log = logging.getLogger("affectstream.mqtt")

#: Socket options for every MQTT connection: no Nagle delay on small messages (each prediction
#: and each sample chunk would otherwise wait up to 40 ms for a delayed ACK).
SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)

#: Predictions held while the broker is unreachable (oldest dropped beyond this, counted).
SPOOL_MAX = 100_000


def tls_context(b: BrokerConfig) -> ssl.SSLContext | None:
    """A verifying TLS context for the broker, or None without TLS."""
    if not b.tls:
        return None
    ctx = ssl.create_default_context(cafile=b.ca_file or None)
    if b.cert_file:
        ctx.load_cert_chain(b.cert_file, b.key_file or None)
    return ctx


def make_client(b: BrokerConfig) -> Any:
    """An aiomqtt client for the broker: credentials read now from where the config points,
    TLS verified against ``ca_file``, client certificate if given, TCP_NODELAY."""
    import aiomqtt

    user, pw = b.credentials()
    return aiomqtt.Client(
        b.host,
        b.port,
        username=user,
        password=pw,
        identifier=b.client_id or None,
        clean_session=False if b.persistent_session else None,
        tls_context=tls_context(b),
        keepalive=b.keepalive_s,
        timeout=5,
        socket_options=SOCKET_OPTIONS,
    )


@contextlib.asynccontextmanager
async def mqtt_session(client: Any) -> AsyncIterator[Any]:
    """``async with client`` that also collects the error of a lost connection.

    aiomqtt (2.5) puts an unexpected disconnection on a future that only its message iterator
    reads; a client that was only publishing leaves it unread, and asyncio prints "Future
    exception was never retrieved ... MqttCodeError" when the client is collected. The error
    itself reaches the caller as the :class:`aiomqtt.MqttError` of the failed call.
    """
    try:
        async with client:
            yield client
    finally:
        lost = getattr(client, "_disconnected", None)
        if isinstance(lost, asyncio.Future) and lost.done() and not lost.cancelled():
            lost.exception()  # mark it retrieved


async def all_messages(client: Any) -> AsyncIterator[Any]:
    """``client.messages``, and at a lost connection also those still queued, then the
    :class:`aiomqtt.MqttError`.

    aiomqtt (2.5) ends the iteration at a lost connection even when messages it has received,
    and acknowledged to the broker (QoS 1), are still in its queue; the broker will not send
    them again, so they would be lost.
    """
    import aiomqtt

    try:
        async for msg in client.messages:
            yield msg
    except aiomqtt.MqttError:
        queue = getattr(client, "_queue", None)
        while queue is not None and not queue.empty():
            yield queue.get_nowait()
        raise


class MqttLink:
    """Keeps a connection up; calls ``on_message(topic, payload)`` for every raw message
    (awaited when it returns an awaitable).

    Parameters
    ----------
    broker
        Broker settings (credentials are read when connecting).
    topics
        Topic filters to subscribe to (QoS 1); empty for publish-only.
    on_message
        Called for each message, synchronously, in the link's task.
    """

    def __init__(
        self,
        broker: BrokerConfig,
        topics: list[str],
        on_message: Callable[[str, bytes], Awaitable[object] | None] | None = None,
        spool_dir: str | Path | None = None,
    ) -> None:
        self.broker = broker
        self.topics = topics
        self.on_message = on_message
        self.connected = asyncio.Event()
        self._client: Any = None
        self._spool = DiskSpool(spool_dir, SPOOL_MAX)
        self._lock = asyncio.Lock()
        #: set once no more messages are taken after ``stop`` (those already acknowledged to
        #: the broker have been handed on; the rest stay with the broker's session)
        self.input_closed = asyncio.Event()
        self._closed = asyncio.Event()
        self.counters = {
            "connects": 0,
            "disconnects": 0,
            "published": 0,
            "spooled": 0,
            "spool_dropped": 0,
            "received": 0,
        }

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish now, or spool when the broker is away (delivered in order on reconnect)."""
        import aiomqtt

        client = self._client
        if client is not None:
            try:
                async with self._lock:
                    await self._drain_spool(client)  # older messages first, always
                    await client.publish(topic, payload, qos=qos)
                self.counters["published"] += 1
                return
            except aiomqtt.MqttError:
                pass
        self._spool.append((topic, payload, qos))
        self.counters["spooled"] += 1
        self.counters["spool_dropped"] = self._spool.dropped

    async def _drain_spool(self, client: Any) -> None:
        while self._spool:
            topic, payload, qos = self._spool.peek()
            await client.publish(topic, payload, qos=qos)
            self._spool.pop()
            self.counters["published"] += 1

    async def run(self, stop: asyncio.Event, *, hold: bool = False) -> None:
        """Connect, subscribe, dispatch, and reconnect until ``stop`` is set.

        At ``stop`` the link takes no more messages: the ones it has already acknowledged to
        the broker are handed on first (they would be lost otherwise), the others stay with the
        broker (a persistent session gets them on its next connection). With ``hold`` the
        connection then stays up (and is re-made if lost) for :meth:`publish` until
        :meth:`close`, so that what the last messages produce is delivered.
        """
        import aiomqtt

        delay = 0.2
        b = self.broker
        done = self._closed if hold else stop
        while not done.is_set():
            try:
                client = make_client(b)
                if stop.is_set():
                    _take_no_more(client)  # a connection made only to publish
                async with mqtt_session(client):
                    self.counters["connects"] += 1
                    log.info("connected to mqtt%s://%s:%d", "s" if b.tls else "", b.host, b.port)
                    if not stop.is_set():
                        for t in self.topics:
                            await client.subscribe(t, qos=1)
                    async with self._lock:
                        await self._drain_spool(client)
                    self._client = client
                    self.connected.set()
                    delay = 0.2
                    if not stop.is_set():
                        await self._dispatch(client, stop)
                    self.input_closed.set()
                    if hold:
                        await self._closed.wait()
            except aiomqtt.MqttError as exc:
                if done.is_set():
                    break
                self.counters["disconnects"] += 1
                log.warning("mqtt %s:%d: %s; retrying in %.1f s", b.host, b.port, exc, delay)
            finally:
                self._client = None
                self.connected.clear()
            if stop.is_set():
                self.input_closed.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=delay)
            delay = min(delay * 2, 1.0)  # a returning broker is found within about a second
        self.input_closed.set()

    async def _handle(self, msg: Any) -> None:
        self.counters["received"] += 1
        if self.on_message is not None:
            payload = msg.payload
            if not isinstance(payload, bytes | bytearray):
                payload = str(payload).encode()
            res = self.on_message(msg.topic.value, bytes(payload))
            if isinstance(res, Awaitable):
                await res

    async def _dispatch(self, client: Any, stop: asyncio.Event) -> None:
        """Hand on messages until ``stop``, then those acknowledged before it; raises the
        :class:`aiomqtt.MqttError` of a lost connection."""

        async def consume() -> None:
            async for msg in all_messages(client):
                if msg is _END_OF_INPUT:
                    return
                await self._handle(msg)

        consumer = asyncio.create_task(consume())
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if consumer not in done:
                _take_no_more(client)
                client._queue.put_nowait(_END_OF_INPUT)
            await consumer  # re-raises MqttError from a lost connection
        finally:
            consumer.cancel()
            stopper.cancel()

    async def close(self, timeout: float = 5.0) -> None:
        """Deliver what is spooled if connected (bounded by ``timeout``), then let :meth:`run`
        disconnect; what is still spooled stays on disk for the next start."""
        try:
            if self._client is not None and self._spool:
                async with self._lock:
                    await asyncio.wait_for(self._drain_spool(self._client), timeout)
        except (TimeoutError, Exception):  # noqa: BLE001 - shutting down: log, don't raise
            pass
        finally:
            self._closed.set()
        if self._spool:
            log.warning(
                "%d predictions still spooled at shutdown%s; they are delivered after the next "
                "start",
                len(self._spool),
                "" if self._spool.persistent else " (in memory only: set spool_dir to keep them)",
            )


#: Put in aiomqtt's message queue after the last message that was acknowledged before ``stop``.
_END_OF_INPUT = object()


def _take_no_more(client: Any) -> None:
    """From now on, acknowledge no message to the broker (paho's manual acknowledgement, never
    given): what arrives after this is not handed on and the broker keeps it for the session."""
    client._client.manual_ack_set(True)
