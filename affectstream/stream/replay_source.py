"""Replay of recorded files as a source: chunks at the recording's pace (or faster)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence

from affectstream.stream.events import CLOCK_RECORDING, CLOCK_REPLAY, ChunkEvent
from affectstream.stream.replay import replay_chunks
from affectstream.stream.source import Emit

#: Recording times before this (seconds; 1973-03-03 as Unix time) are taken as seconds from the
#: recording's start rather than Unix time.
UNIX_FLOOR_S = 1e8


class ReplaySource:
    """Every recording in ``path`` replayed as one device's chunks.

    Parameters
    ----------
    path
        A file or folder :func:`affectstream.data.load_recordings` reads.
    modalities
        Modalities to replay (the model's).
    speed
        Multiple of real time; 0 replays as fast as the daemon takes the chunks.
    device
        Device id (default: the recording's subject, else its name).

    Times are Unix time: the recording's own where the file says when it was recorded (E4
    folders, ``.npz`` saved from them; ``clock`` ``recording``); a file whose times count from
    its start (before :data:`UNIX_FLOOR_S`) is placed at the replay's start, shifted by whole
    seconds so its samples keep their phase on the model grid (``clock`` ``replay``).
    Replayed chunks wait for room in the daemon's queue instead of being dropped.
    """

    def __init__(
        self, path: str, modalities: Sequence[str], speed: float = 1.0, device: str | None = None
    ) -> None:
        self.path = path
        self.modalities = list(modalities)
        self.speed = speed
        self.device = device

    async def run(self, stop: asyncio.Event, emit: Emit) -> None:
        """Replay until the recordings end or ``stop``."""
        from affectstream.data import load_recordings

        for rec in load_recordings(self.path):
            device = self.device or rec.subject or rec.name
            relative = rec.start_time < UNIX_FLOOR_S
            shift = float(math.floor(time.time() - rec.start_time)) if relative else 0.0
            clock = CLOCK_REPLAY if relative else CLOCK_RECORDING
            wall0 = time.perf_counter()
            for ch in replay_chunks(rec, self.modalities):
                if stop.is_set():
                    return
                if self.speed > 0:
                    lag = ch.t_end / self.speed - (time.perf_counter() - wall0)
                    if lag > 0:
                        await asyncio.sleep(lag)
                ev = ChunkEvent(
                    device,
                    ch.modality,
                    ch.samples,
                    ch.start_time + shift if ch.timestamps is None else None,
                    None if ch.timestamps is None else ch.timestamps + shift,
                    time.perf_counter(),
                    fs=ch.fs if ch.timestamps is None else 0.0,
                    seq=ch.seq,
                    stream=f"{self.path}:{rec.name}/{ch.modality}",
                    clock=clock,
                    live=False,
                )
                await emit(ev)
                if self.speed == 0:
                    await asyncio.sleep(0)
