"""Replaying a recording as a live device would send it: time-ordered chunks per modality."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from affectstream.data import Recording


@dataclass(frozen=True)
class ReplayChunk:
    """One chunk of one modality.

    Attributes
    ----------
    t_end
        Recording time just after the chunk's last sample (seconds since the recording start),
        when a live device would have it.
    start_time
        Time of the first sample on the recording's clock, seconds.
    timestamps
        Per-sample times (seconds), shape ``(n,)``, for an irregular signal; else None.
    """

    modality: str
    samples: np.ndarray
    start_time: float
    fs: float
    channels: tuple[str, ...]
    seq: int
    t_end: float
    timestamps: np.ndarray | None = None


def replay_chunks(
    rec: Recording, modalities: Sequence[str] | None = None, chunk_s: float = 1.0
) -> Iterator[ReplayChunk]:
    """Chunks of ``chunk_s`` seconds of every modality, interleaved in time order."""
    mods = list(modalities or rec.signals)
    for m in mods:
        if m not in rec.signals:
            raise ValueError(
                f"{rec.source or 'recording'} has no {m!r} signal (it has {', '.join(rec.signals)})"
            )
    t0 = rec.start_time
    seq = dict.fromkeys(mods, 0)
    pos = dict.fromkeys(mods, 0)
    step = 0
    while any(pos[m] < rec.signals[m].n_samples for m in mods):
        edge = t0 + (step + 1) * chunk_s
        for m in mods:
            s = rec.signals[m]
            end = (
                int(np.searchsorted(s.times(), edge, side="left"))
                if s.timestamps is not None
                else min(s.n_samples, int(np.ceil((edge - s.start_time) * s.fs - 1e-9)))
            )
            if end <= pos[m]:
                continue
            a = pos[m]
            st = float(s.timestamps[a]) if s.timestamps is not None else s.start_time + a / s.fs
            ts = None if s.timestamps is None else s.timestamps[a:end]
            yield ReplayChunk(m, s.data[a:end], st, s.fs, s.channels, seq[m], edge - t0, ts)
            seq[m] += 1
            pos[m] = end
        step += 1
