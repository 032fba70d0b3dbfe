"""A recording replayed through a monitor in-process, straight into the dashboard's state (what
``affectstream demo --dashboard`` shows): no broker needed."""

from __future__ import annotations

import asyncio
import time

from affectstream.dashboard.state import DashboardState
from affectstream.data import Recording
from affectstream.stream.monitor import Monitor
from affectstream.stream.replay import replay_chunks


async def feed_replay(
    state: DashboardState,
    rec: Recording,
    monitor: Monitor,
    device: str,
    speed: float,
    stop: asyncio.Event,
    chunk_s: float = 1.0,
) -> int:
    """Replay ``rec`` as ``device`` through ``monitor``: every chunk to ``state`` as raw data,
    every record the monitor makes to ``state`` as a record. ``speed`` is a multiple of real
    time (0: as fast as possible, yielding to the server between chunks). Returns the number of
    records."""
    n = 0
    wall0 = time.perf_counter()
    for ch in replay_chunks(rec, monitor.modalities, chunk_s=chunk_s):
        if stop.is_set():
            break
        lag = ch.t_end / speed - (time.perf_counter() - wall0) if speed > 0 else 0.0
        await asyncio.sleep(max(0.0, lag))
        state.add_raw(device, ch.modality, ch.start_time, ch.fs, ch.samples, ch.channels)
        for r in monitor.push(device, ch.modality, ch.samples, start_time=ch.start_time):
            r.setdefault("clock", "recording")
            state.add_record(r)
            n += 1
    return n
