"""LSL string marker streams (type ``Markers`` by default), pulled as ``(device, time,
text)``: what :class:`~affectstream.stream.recorder.SessionRecorder` turns into labels.

A marker stream belongs to a device when its source_id is ``<device>/...`` (or its description
names a ``device``); otherwise (an experiment's own marker stream) it is for every device.
Times are put on Unix time like the numeric streams' (time correction plus this process's LSL
to Unix offset).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from affectstream.stream.clock import lsl_unix_offset

log = logging.getLogger("affectstream.lsl")

#: Called with (device or None, Unix time in seconds, marker text).
MarkerSink = Callable[[str | None, float, str], None]


class LslMarkerSource:
    """Every string LSL stream of the given types, as markers.

    Parameters
    ----------
    on_marker
        Called for every marker.
    types
        Stream types to take (case ignored).
    resolve_every_s, poll_s
        How often new streams are looked for and markers pulled (seconds).
    """

    def __init__(
        self,
        on_marker: MarkerSink,
        types: Sequence[str] = ("Markers",),
        resolve_every_s: float = 0.5,
        poll_s: float = 0.02,
    ) -> None:
        self.on_marker = on_marker
        self.types = {t.lower() for t in types}
        self.resolve_every_s = resolve_every_s
        self.poll_s = poll_s
        self._inlets: dict[str, tuple[Any, str | None, float]] = {}

    def _device(self, info: Any) -> str | None:
        dev = str(info.desc().child_value("device") or "")
        if dev:
            return dev
        sid = str(info.source_id() or "")
        return sid.rsplit("/", 1)[0] if sid and "/" in sid else None

    def _open_new(self, pylsl: Any, resolver: Any) -> None:
        for info in resolver.results():
            if info.uid() in self._inlets or info.channel_format() != pylsl.cf_string:
                continue
            if info.type().lower() not in self.types:
                continue
            inlet = pylsl.StreamInlet(info, max_buflen=60, recover=False)
            inlet.open_stream(timeout=5.0)
            full = inlet.info(timeout=5.0)
            shift = inlet.time_correction(timeout=5.0) + lsl_unix_offset()
            self._inlets[info.uid()] = (inlet, self._device(full), shift)
            log.info("LSL marker stream %r (%s) taken", info.name(), info.source_id())

    async def run(self, stop: asyncio.Event, emit: Any = None) -> None:
        """Resolve and pull until ``stop``; ``emit`` is unused (markers go to ``on_marker``)."""
        import pylsl

        resolver = pylsl.ContinuousResolver()
        last = -1e9
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if loop.time() - last >= self.resolve_every_s:
                self._open_new(pylsl, resolver)
                last = loop.time()
            for uid, (inlet, device, shift) in list(self._inlets.items()):
                try:
                    samples, stamps = inlet.pull_chunk(timeout=0.0)
                except pylsl.util.LostError:
                    del self._inlets[uid]
                    continue
                for s, t in zip(samples, stamps, strict=True):
                    self.on_marker(device, float(t) + shift, str(s[0]))
            await asyncio.sleep(self.poll_s)
