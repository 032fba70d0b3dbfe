"""One check for every chunk of every source: modality, rate, channel count, sequence, clock.

The counters it keeps (through :class:`~affectstream.stream.problems.Problems`) mean the same
whether the chunk came over MQTT, LSL or from a replayed file:

``unknown_modality``
    a modality (after aliases: ``gsr`` is ``eda``, ``ppg`` is ``bvp``, ...) the model does not use
``wrong_rate``
    a nominal rate other than the model's for that modality
``bad_chunks``
    a channel count other than the model's, or an irregular chunk without timestamps
``out_of_order``
    a ``seq`` not above the last one on the same stream, at a time not after it (dropped)
``seq_restarts``
    a lower ``seq`` at a later time (the sender restarted its numbering; accepted)
``gaps``
    ``seq`` jumped by more than 1 on one stream (messages lost; accepted)
``time_jumps``
    a chunk starting more than :data:`MAX_CLOCK_JUMP_S` from where its stream's last one ended
    (accepted; the DSP re-anchors and the frames between are missing)
``nonfinite_samples``
    NaN/inf samples (kept as missing data)
``bad_device_id``
    a device id that is not 1-64 characters of ``A-Z a-z 0-9 . _ -``
    (:mod:`~affectstream.stream.device_ids`; refused, whatever the source)
``samples_in``
    samples accepted
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from affectstream.data.recording import canonical_modality
from affectstream.stream.device_ids import device_id_problem
from affectstream.stream.events import ChunkEvent
from affectstream.stream.problems import OTHER_DEVICES, Problems

#: A chunk starting further than this from where the previous one ended (seconds) is counted as
#: a clock jump; the DSP re-anchors on it and the frames in between are missing.
MAX_CLOCK_JUMP_S = 10.0


class ChunkValidator:
    """Accepts or refuses chunks against what the model needs.

    Parameters
    ----------
    rates
        Modality -> the model's rate, Hz.
    channels
        Modality -> the number of channels the model reads from it.
    problems
        Where counts and warnings go.
    """

    def __init__(
        self, rates: Mapping[str, float], channels: Mapping[str, int], problems: Problems
    ) -> None:
        self.rates = dict(rates)
        self.channels = dict(channels)
        self.problems = problems
        self._seq: dict[tuple[str, str], tuple[int, float]] = {}
        self._next_t0: dict[tuple[str, str], float] = {}

    def forget(self, device: str) -> None:
        """Drop what is kept about ``device``'s streams (it was evicted or refused)."""
        for store in (self._seq, self._next_t0):
            for key in [k for k in store if k[0] == device]:
                del store[key]

    def check(self, ev: ChunkEvent) -> ChunkEvent | None:
        """The chunk with its modality made canonical, or None when it is refused (counted and
        logged)."""
        p = self.problems
        problem = device_id_problem(ev.device)
        if problem is not None:
            p.bad("bad_device_id", OTHER_DEVICES, f"{ev.stream or 'a chunk'}: {problem}")
            return None
        where = ev.stream or f"{ev.device}/{ev.modality}"
        mod = canonical_modality(ev.modality) or ev.modality.strip().lower()
        if mod not in self.rates:
            p.bad(
                "unknown_modality",
                ev.device,
                f"{where}: the model does not use {ev.modality!r}; it uses "
                f"{', '.join(self.rates)} (aliases such as gsr, ppg, temperature are accepted)",
            )
            return None
        ev.modality = mod
        want = self.rates[mod]
        if ev.fs is not None and ev.fs > 0 and abs(ev.fs - want) > 1e-6 * want:
            p.bad(
                "wrong_rate",
                ev.device,
                f"{where}: {mod.upper()} stream is {ev.fs:g} Hz; the model expects {want:g} Hz "
                "(resample at the sender, or serve a model trained at this rate)",
            )
            return None
        x = np.asarray(ev.samples, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        n_ch = self.channels.get(mod, 1)
        if x.ndim != 2 or x.shape[1] != n_ch or x.shape[0] == 0:
            p.bad(
                "bad_chunks",
                ev.device,
                f"{where}: chunk of shape {x.shape}; the model reads {n_ch} {mod} channel(s) "
                "per sample",
            )
            return None
        ev.samples = x
        key = (ev.device, where)
        continuing = ev.start_time is None and ev.timestamps is None
        if ev.timestamps is not None and len(ev.timestamps) != len(x):
            p.bad(
                "bad_chunks",
                ev.device,
                f"{where}: {len(ev.timestamps)} timestamps for "
                f"{len(x)} samples; give one per sample",
            )
            return None
        if continuing and (not ev.fs or key not in self._next_t0):
            p.bad(
                "bad_chunks",
                ev.device,
                f"{where}: a chunk without a start time continues its stream; the first one "
                "needs a start time, and an irregular stream needs one timestamp per sample",
            )
            return None
        if ev.start_time is not None:
            t0 = float(ev.start_time)
        elif ev.timestamps is not None:
            t0 = float(ev.timestamps[0])
        else:
            # continuing: counted on from the stream's last chunk, and said so, so that a chunk
            # lost after this check (a full queue) leaves a gap instead of shifting the rest
            t0 = ev.start_time = self._next_t0[key]
        if ev.seq is not None:
            last = self._seq.get(key)
            if last is not None:
                last_seq, last_t0 = last
                if ev.seq <= last_seq:
                    if t0 <= last_t0:
                        p.bad(
                            "out_of_order",
                            ev.device,
                            f"{where}: seq {ev.seq} at t0 {t0} after seq {last_seq} at "
                            f"{last_t0}; dropped",
                        )
                        return None
                    p.count("seq_restarts")  # the sender restarted its numbering
                elif ev.seq > last_seq + 1:
                    p.bad(
                        "gaps",
                        ev.device,
                        f"{where}: seq jumped from {last_seq} to {ev.seq} (seq counts messages "
                        "per topic, +1 each; messages were lost, or the sender numbers them "
                        "per device)",
                    )
            self._seq[key] = (ev.seq, t0)
        expected = self._next_t0.get(key)
        if expected is not None and abs(t0 - expected) > MAX_CLOCK_JUMP_S:
            p.bad(
                "time_jumps",
                ev.device,
                f"{where}: chunk starts at {t0:.3f}, {t0 - expected:+.1f} s from where the "
                "previous one ended",
            )
        if ev.timestamps is None and ev.fs:
            self._next_t0[key] = t0 + len(x) / ev.fs
        elif ev.timestamps is not None:
            ts = ev.timestamps
            step = float(ts[-1] - ts[-2]) if len(ts) > 1 else 0.0
            self._next_t0[key] = float(ts[-1]) + step
        else:
            self._next_t0[key] = t0 + len(x) / want
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            p.count("nonfinite_samples", bad)  # kept as missing data, not an error
        p.count("samples_in", len(x))
        return ev
