"""Lab Streaming Layer ingest: resolve streams by type, group them into devices, pull chunks.

A device is the ``device`` value in a stream's description, else the part of its source_id
before the last ``/``, else its hostname. A continuous resolver is polled twice a second, so a
device that appears later, or an outlet that vanished and came back, is picked up. Inlets are
created with a bounded buffer (``max_buflen_s``) and their lag (how far the newest sample pulled
is behind the local clock) is measured, so the monitor never falls minutes behind silently.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import numpy as np

from affectstream.stream.daemon import ChunkEvent, Daemon

log = logging.getLogger("affectstream.lsl")

#: LSL stream type -> modality.
TYPE_MODALITY = {
    "ECG": "ecg",
    "EDA": "eda",
    "GSR": "eda",
    "TEMP": "temp",
    "BVP": "bvp",
    "PPG": "bvp",
    "RESP": "resp",
}


def device_of(info: Any) -> str:
    """The device id a stream belongs to."""
    dev = info.desc().child_value("device")
    if dev:
        return dev
    sid = info.source_id()
    if sid and "/" in sid:
        return sid.rsplit("/", 1)[0]
    return sid or info.hostname()


class _Inlet:
    def __init__(self, info: Any, max_buflen_s: int) -> None:
        import pylsl

        self.info = info
        self.uid = info.uid()
        self.key = (device_of(info), info.source_id() or info.name(), info.type())
        self.device = self.key[0]
        self.modality = TYPE_MODALITY[info.type().upper()]
        self.fs = info.nominal_srate()
        self.n_ch = info.channel_count()
        # recover=False: with recovery on, liblsl blocks a pull while it tries to reconnect to a
        # vanished outlet; we drop the inlet on LostError and re-resolve instead
        self.inlet = pylsl.StreamInlet(info, max_buflen=max_buflen_s, recover=False)
        self.inlet.open_stream(timeout=5.0)
        self.buf = np.empty((max(1024, int(self.fs * 4)), self.n_ch))
        self.ts = np.empty(self.buf.shape[0])
        self.correction = 0.0
        if info.hostname() != socket.gethostname():
            try:  # offset from the sender's clock to ours (0 on one host by definition)
                corr = float(self.inlet.time_correction(timeout=2.0))
            except Exception:  # noqa: BLE001 - a timeout leaves the sender's clock as it is
                corr = 0.0
            self.correction = corr if abs(corr) > 1e-3 else 0.0
        self.expected: float | None = None
        self.last_pull = time.monotonic()
        self.lag_s = 0.0


class LslSource:
    """Feeds a :class:`Daemon` from every LSL stream of the configured types."""

    def __init__(
        self,
        daemon: Daemon,
        types: list[str],
        max_buflen_s: int = 30,
        resolve_every_s: float = 0.5,
        poll_s: float = 0.02,
        names: list[str] | None = None,
        source_ids: list[str] | None = None,
    ) -> None:
        self.daemon = daemon
        self.types = [t.upper() for t in types]
        self.names = list(names or [])
        self.source_ids = list(source_ids or [])
        self.max_buflen_s = max_buflen_s
        self.resolve_every_s = resolve_every_s
        self.poll_s = poll_s
        self.inlets: dict[tuple[str, str, str], _Inlet] = {}

    def _predicate(self) -> str:
        """XPath over stream infos: the wanted types, narrowed to names / source_ids if given."""
        pred = "(" + " or ".join(f"type='{t}'" for t in self.types) + ")"
        narrow = [f"name='{n}'" for n in self.names] + [f"source_id='{s}'" for s in self.source_ids]
        if narrow:
            pred += " and (" + " or ".join(narrow) + ")"
        return pred

    def lag(self) -> dict[str, float]:
        """Per device, the largest lag (seconds) of its newest pulled sample behind our clock."""
        out: dict[str, float] = {}
        for inl in self.inlets.values():
            out[inl.device] = round(max(out.get(inl.device, 0.0), inl.lag_s), 3)
        return out

    async def run(self, stop: asyncio.Event) -> None:
        """Resolve, pull and queue until ``stop``."""
        import pylsl
        from pylsl.util import LostError

        next_resolve = 0.0
        wanted = set(self.daemon.monitor.modalities)
        # a continuous resolver keeps listening: one-shot resolves missed streams of a busy host
        resolver = pylsl.ContinuousResolver(pred=self._predicate(), forget_after=5.0)
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_resolve:
                next_resolve = now + self.resolve_every_s
                for info in await asyncio.to_thread(resolver.results):
                    mod = TYPE_MODALITY.get(info.type().upper())
                    if mod not in wanted:
                        continue
                    key = (device_of(info), info.source_id() or info.name(), info.type())
                    old = self.inlets.get(key)
                    if old is not None and old.uid == info.uid():
                        continue
                    try:
                        inl = await asyncio.to_thread(_Inlet, info, self.max_buflen_s)
                    except Exception as exc:  # noqa: BLE001 - a stream that will not open
                        self.daemon._bad("lsl_open_errors", f"{info.name()}: {exc}")
                        continue
                    if old is not None:
                        log.info("LSL stream %s came back (new uid)", info.name())
                        self.daemon.counters["lsl_reconnects"] += 1
                        old.inlet.close_stream()
                    else:
                        log.info(
                            "LSL stream %s (%s, %g Hz) -> device %s",
                            info.name(),
                            info.type(),
                            info.nominal_srate(),
                            inl.device,
                        )
                    self.inlets[key] = inl
            for inl in list(self.inlets.values()):
                try:
                    while self._pull(inl, pylsl):
                        pass
                except LostError:
                    log.warning(
                        "LSL stream %s (device %s) vanished; waiting for it to return",
                        inl.info.name(),
                        inl.device,
                    )
                    self.daemon.counters["lsl_lost"] += 1
                    self.inlets.pop(inl.key, None)
                except Exception as exc:  # noqa: BLE001 - one bad stream must not stop the rest
                    log.exception("pull %s", inl.info.name())
                    self.daemon._bad("lsl_pull_errors", f"{inl.info.name()}: {exc}")
            await asyncio.sleep(self.poll_s)

    def _pull(self, inl: _Inlet, pylsl: Any) -> bool:
        """Pull what is there; True when the buffer came back full (more may wait)."""
        _, ts = inl.inlet.pull_chunk(timeout=0.0, max_samples=inl.buf.shape[0], dest_obj=inl.buf)
        n = len(ts)
        if n == 0:
            return False
        recv = time.perf_counter()
        ts = np.asarray(ts, dtype=np.float64)
        x = inl.buf[:n].copy()
        t0 = float(ts[0]) + inl.correction
        inl.lag_s = pylsl.local_clock() - float(ts[-1]) - inl.correction
        start = None
        if inl.fs > 0:
            # regular stream: count samples; re-anchor only when the clock disagrees (gap)
            if inl.expected is None or abs(t0 - inl.expected) > 2.0 / inl.fs:
                start = t0
            inl.expected = (start if start is not None else inl.expected) + n / inl.fs
            self.daemon.counters["samples_in"] += n
            self.daemon.offer(ChunkEvent(inl.device, inl.modality, x, start, None, recv))
        else:
            inl.expected = t0
            self.daemon.counters["samples_in"] += n
            self.daemon.offer(
                ChunkEvent(inl.device, inl.modality, x, None, ts + inl.correction, recv)
            )
        return n == inl.buf.shape[0]
