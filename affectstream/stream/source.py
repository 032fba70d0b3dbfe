"""The one interface every ingest implements: MQTT, LSL and replay sources alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from affectstream.stream.events import ChunkEvent

#: What a source calls for every chunk: validates and queues it; False when it was refused
#: (counted and logged by the daemon) or dropped because the queue was full.
Emit = Callable[[ChunkEvent], Awaitable[bool]]


@runtime_checkable
class Source(Protocol):
    """A source of chunks: runs until ``stop`` is set, handing each chunk to ``emit``.

    A source turns its sender's clock into Unix time (:mod:`affectstream.stream.clock`) and
    says which clock it was in :attr:`ChunkEvent.clock`; it does not check rates, channel
    counts or sequence numbers: the daemon's :class:`~affectstream.stream.validate.ChunkValidator`
    does, the same for every source.
    """

    async def run(self, stop: asyncio.Event, emit: Emit) -> None:
        """Produce chunks until ``stop``."""
        ...
