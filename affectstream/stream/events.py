"""What a source hands the daemon: one chunk of one device's modality."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Values of :attr:`ChunkEvent.clock` (and of the ``clock`` key of every record).
CLOCK_UNIX = "unix"  #: the sender stamped Unix time (MQTT ``t0``)
CLOCK_LSL = "lsl"  #: the sender's LSL clock, mapped to Unix time by the receiver
CLOCK_RECORDING = "recording"  #: a replayed file's own times, Unix time (the file says when)
#: a replayed file with times relative to its start, placed at the replay's start (whole seconds)
CLOCK_REPLAY = "replay"


@dataclass
class ChunkEvent:
    """One chunk of one device's modality, as a source hands it to the daemon.

    Attributes
    ----------
    device
        Device id.
    modality
        As the sender named it (``gsr``, ``PPG``, ...); the validator makes it canonical.
    samples
        Shape ``(n_samples, n_channels)``, float64, NaN for missing.
    start_time
        Unix time of the first sample, seconds, for a regular stream (samples counted at
        ``fs``); None when ``timestamps`` are given, or, with neither, for a chunk that
        continues its stream where the previous one ended (the validator fills it in).
    timestamps
        Per-sample Unix times, seconds, shape ``(n_samples,)``, for irregular streams.
    received
        ``time.perf_counter()`` when the chunk arrived (latency is measured from it).
    fs
        The sender's nominal rate, Hz (0: irregular); None when the source does not say.
    seq
        The sender's message number (MQTT: per topic), or None.
    stream
        What the chunk came on (the MQTT topic, the LSL stream name, the replayed file and
        modality): ``seq`` and clock continuity are tracked per stream.
    clock
        Where the times came from: :data:`CLOCK_UNIX`, :data:`CLOCK_LSL` or
        :data:`CLOCK_RECORDING` or :data:`CLOCK_REPLAY`.
    live
        False for a replay, which waits for room in the queue instead of being dropped.
    """

    device: str
    modality: str
    samples: np.ndarray
    start_time: float | None = None
    timestamps: np.ndarray | None = None
    received: float = 0.0
    fs: float | None = None
    seq: int | None = None
    stream: str = ""
    clock: str = CLOCK_UNIX
    live: bool = True
