"""Recording what live sources deliver to the project's ``.npz``: one file per device and
session, rewritten atomically every few seconds, rotated after a set length.

:class:`SessionRecorder` takes the chunks a source emits (:class:`ChunkEvent`, after the same
canonical modality names the validator uses) and markers, and keeps per device the samples
exactly as received (float64) with their times. Every ``flush_s`` seconds each device with new
samples is written to ``<dir>/<device>_<session>.npz`` (``_<part>`` from the second part on):
to a temporary file, ``fsync``-ed, then renamed over the previous version, so a crash leaves the
last complete version and loses at most ``flush_s`` seconds. After ``rotate_s`` seconds of a
device's samples a new part begins (each rewrite then costs at most ``rotate_s`` of data).

A stream whose chunks follow on from each other at their rate is written as a regular signal
(start time and rate), one with jumps or irregular times with per-sample timestamps; so the file
replays to the chunks' samples and times bit for bit. Markers become labels by the marker
convention (:mod:`affectstream.data.markers`); the raw markers are kept in
``meta["markers"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.data import LabelInterval, Recording, Signal, canonical_modality
from affectstream.data.markers import markers_to_labels
from affectstream.data.native import save_npz
from affectstream.data.recording import MODALITY_UNITS
from affectstream.stream.events import ChunkEvent

log = logging.getLogger("affectstream.record")

#: Default seconds between rewrites of a device's file (what a crash can lose).
DEFAULT_FLUSH_S = 5.0
#: Default seconds of samples per file before a new part begins.
DEFAULT_ROTATE_S = 3600.0

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class _StreamLog:
    fs: float
    channels: tuple[str, ...]
    data: list[np.ndarray] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    next_t: float | None = None  #: where a continuing chunk starts (s)
    regular: bool = True  #: every chunk followed on at ``fs``
    last_t: float = -np.inf

    def add(self, ev: ChunkEvent) -> int:
        x = np.asarray(ev.samples, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        n = x.shape[0]
        if ev.timestamps is not None:
            t = np.asarray(ev.timestamps, dtype=np.float64)
            self.regular = False
        else:
            t0 = ev.start_time if ev.start_time is not None else self.next_t
            if t0 is None or not self.fs:
                return 0  # a continuing chunk with nothing to continue from
            if self.next_t is not None and abs(t0 - self.next_t) > 0.5 / self.fs:
                self.regular = False  # a gap or a clock jump
            t = t0 + np.arange(n) / self.fs
        keep = t > self.last_t  # a sample not after the last one cannot be placed in time
        if not keep.all():
            self.regular = False
            t, x = t[keep], x[keep]
        if t.size == 0:
            return 0
        self.data.append(x)
        self.times.append(t)
        self.last_t = float(t[-1])
        self.next_t = float(t[-1]) + (1.0 / self.fs if self.fs else 0.0)
        return int(t.size)

    def signal(self, modality: str) -> Signal:
        data = np.concatenate(self.data)
        t = np.concatenate(self.times)
        fs = self.fs if self.fs else (1.0 / float(np.median(np.diff(t))) if t.size > 1 else 1.0)
        return Signal(
            data,
            fs,
            float(t[0]),
            self.channels,
            None if self.regular and self.fs else t,
            MODALITY_UNITS.get(modality, ""),
        )


@dataclass
class _DeviceLog:
    session: str
    part: int = 1
    streams: dict[str, _StreamLog] = field(default_factory=dict)
    first_t: float | None = None
    dirty: bool = False


class SessionRecorder:
    """Collects chunks and markers per device and writes them as ``.npz`` sessions.

    Parameters
    ----------
    out_dir
        Folder for the files (created).
    flush_s
        Seconds between rewrites of a device's file.
    rotate_s
        Seconds of samples per file; a new part begins after them.
    clock
        Monotonic seconds, for the flush schedule.
    """

    def __init__(
        self,
        out_dir: str | Path,
        flush_s: float = DEFAULT_FLUSH_S,
        rotate_s: float = DEFAULT_ROTATE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not flush_s > 0 or not rotate_s > 0:
            raise ValueError(
                f"flush_s and rotate_s must be positive seconds; got {flush_s!r}, {rotate_s!r}"
            )
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.flush_s = float(flush_s)
        self.rotate_s = float(rotate_s)
        self.clock = clock
        self._devices: dict[str, _DeviceLog] = {}
        self._markers: list[tuple[str | None, float, str]] = []
        self._last_flush = clock()
        self.counters = {"chunks": 0, "samples": 0, "markers": 0, "unknown_modality": 0}
        self.written: set[Path] = set()

    def add(self, ev: ChunkEvent) -> None:
        """Take one chunk (any source's, before or after validation)."""
        mod = canonical_modality(ev.modality)
        if mod is None:
            self.counters["unknown_modality"] += 1
            log.warning(
                "record: %s sends %r, which is no known modality; not recorded",
                ev.device,
                ev.modality,
            )
            return
        dev = self._devices.get(ev.device)
        t_first = (
            float(ev.timestamps[0])
            if ev.timestamps is not None
            else (ev.start_time if ev.start_time is not None else None)
        )
        if dev is None:
            if t_first is None:
                return
            dev = self._devices[ev.device] = _DeviceLog(_session_name(t_first))
        if (
            t_first is not None
            and dev.first_t is not None
            and t_first - dev.first_t >= self.rotate_s
        ):
            dev = self._rotate(ev.device, dev)
        st = dev.streams.get(mod)
        if st is None:
            n_ch = np.asarray(ev.samples).reshape(len(ev.samples), -1).shape[1]
            st = dev.streams[mod] = _StreamLog(
                float(ev.fs or 0.0), (mod,) if n_ch == 1 else tuple(map(str, range(n_ch)))
            )
        n = st.add(ev)
        if n:
            if dev.first_t is None:
                dev.first_t = float(st.times[-1][0])
            dev.dirty = True
            self.counters["chunks"] += 1
            self.counters["samples"] += n

    def add_marker(self, t: float, text: str, device: str | None = None) -> None:
        """A marker at ``t`` seconds, for ``device`` or (None) for every device."""
        self._markers.append((device, float(t), str(text)))
        self.counters["markers"] += 1
        for name, dev in self._devices.items():
            if device is None or device == name:
                dev.dirty = True

    def _rotate(self, device: str, dev: _DeviceLog) -> _DeviceLog:
        self._write(device, dev)
        new = self._devices[device] = _DeviceLog(dev.session, dev.part + 1)
        return new

    def path_of(self, device: str, dev: _DeviceLog) -> Path:
        """The file a device's current part is written to."""
        part = "" if dev.part == 1 else f"_{dev.part:03d}"
        return self.out_dir / f"{_SAFE.sub('_', device)}_{dev.session}{part}.npz"

    def recording(self, device: str) -> Recording | None:
        """The device's current part as a Recording (None before its first samples)."""
        dev = self._devices.get(device)
        if dev is None or not dev.streams or not any(s.data for s in dev.streams.values()):
            return None
        signals = {m: s.signal(m) for m, s in dev.streams.items() if s.data}
        t0 = min(s.start_time for s in signals.values())
        end = max(s.end_time for s in signals.values())
        mine = sorted((t, m) for d, t, m in self._markers if d in (None, device) and t < end)
        labels = [  # a label opened before this part's first sample holds from it
            LabelInterval(iv.label, max(iv.start, t0), iv.end)
            for iv in markers_to_labels(np.array([t for t, _ in mine]), [m for _, m in mine], end)
            if iv.end > t0
        ]
        mine = [(t, m) for t, m in mine if t >= t0]
        session = dev.session if dev.part == 1 else f"{dev.session}_{dev.part:03d}"
        return Recording(
            signals,
            subject=device,
            session=session,
            labels=labels,
            source=str(self.path_of(device, dev)),
            meta={
                "device": device,
                "recorded_by": "affectstream record",
                "markers": [[t, m] for t, m in mine],
            },
        )

    def _write(self, device: str, dev: _DeviceLog) -> Path | None:
        rec = self.recording(device)
        if rec is None:
            return None
        path = self.path_of(device, dev)
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        with open(tmp, "wb") as fh:
            save_npz(rec, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dev.dirty = False
        self.written.add(path)
        return path

    def flush(self, force: bool = False) -> list[Path]:
        """Rewrite every device with new samples when ``flush_s`` has passed (or ``force``);
        the paths written."""
        now = self.clock()
        if not force and now - self._last_flush < self.flush_s:
            return []
        self._last_flush = now
        out = []
        for name, dev in self._devices.items():
            if dev.dirty:
                p = self._write(name, dev)
                if p is not None:
                    out.append(p)
        return out

    def close(self) -> list[Path]:
        """Write everything still unwritten; every file this recorder wrote, sorted."""
        self.flush(force=True)
        return sorted(self.written)


def _session_name(t: float) -> str:
    """A session id from its first sample's Unix time: ``20240101T120000Z``."""
    try:
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    except (OverflowError, OSError, ValueError):
        return f"t{int(t)}"


async def record_until(
    recorder: SessionRecorder,
    sources: list[Any],
    stop: asyncio.Event,
    duration_s: float | None = None,
    links: Sequence[Any] = (),
) -> list[Path]:
    """Run ``sources`` (each with ``run(stop, emit)``) into ``recorder``, flushing on schedule,
    until ``stop`` is set or ``duration_s`` passes; then write everything and return the
    files. ``links`` (each with ``run(stop)``: the MQTT connection) run beside them."""

    async def emit(ev: ChunkEvent) -> bool:
        recorder.add(ev)
        return True

    tasks = [asyncio.create_task(s.run(stop, emit)) for s in sources]
    tasks += [asyncio.create_task(link.run(stop)) for link in links]
    t_end = None if duration_s is None else time.monotonic() + duration_s
    try:
        while not stop.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                stop.set()
                break
            recorder.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(0.5, recorder.flush_s))
            for t in tasks:
                if t.done() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
    finally:
        stop.set()
        # the links end once they have handed on what they had acknowledged; then the sources
        link_tasks = tasks[len(sources) :]
        await asyncio.gather(*link_tasks, return_exceptions=True)
        for t in tasks[: len(sources)]:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return recorder.close()
