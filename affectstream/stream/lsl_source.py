"""Lab Streaming Layer ingest: resolve streams, match them to modalities, pull chunks.

Streams are matched by type, case-insensitively and with the usual aliases (``GSR``/``gsr``
is EDA, ``PPG`` is BVP, ``temperature`` is TEMP; :func:`affectstream.data.recording.
canonical_modality`); a stream whose type names no modality (MNE-LSL's ``bio``, ``misc``, or
none) is matched by its channel labels when they all name the same one. A stream that matches
nothing is logged once with what it would need. Every channel format is pulled into a buffer
of its own dtype (a float32 stream pulled into a float64 buffer reads garbage); string streams
are parsed as numbers.

A device is the ``device`` value in a stream's description, else the part of its source_id
before the last ``/``, else its hostname. A continuous resolver is polled twice a second, so a
device that appears later, or an outlet that vanished and came back, is picked up. Inlets are
created with a bounded buffer (``max_buflen_s``) and their lag (how far the newest sample pulled
is behind the local clock) is measured, so the monitor never falls minutes behind silently.

Times: the sender's LSL clock, plus the inlet's time correction (0 on one host), plus this
process's offset from LSL to Unix time (:func:`affectstream.stream.clock.lsl_unix_offset`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from affectstream.data.recording import canonical_modality
from affectstream.stream.clock import lsl_unix_offset
from affectstream.stream.events import CLOCK_LSL, ChunkEvent
from affectstream.stream.problems import Problems
from affectstream.stream.source import Emit

log = logging.getLogger("affectstream.lsl")

#: Stream types that say "physiological, see the channels" rather than naming a modality
#: (MNE-LSL's PlayerLSL sets ``bio`` for BVP/PPG channels, ``misc``, or no type when mixed).
GENERIC_TYPES = ("", "bio", "misc", "exg", "physio", "biosignal", "signal", "data")


def channel_labels(info: Any) -> list[str]:
    """The ``desc/channels/channel/label`` values of a stream info (empty where absent)."""
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append(ch.child_value("label"))
        ch = ch.next_sibling("channel")
    return out


def modality_of(stream_type: str, labels: Sequence[str] = ()) -> str | None:
    """The modality an LSL stream carries: from its type (case and aliases ignored), else,
    for a generic type such as ``bio``, from its channel labels when they all name one.

    >>> modality_of("gsr"), modality_of("PPG"), modality_of("bio", ["BVP"])
    ('eda', 'bvp', 'bvp')
    """
    mod = canonical_modality(stream_type) if stream_type.strip() else None
    if mod is not None:
        return mod
    if stream_type.strip().lower() not in GENERIC_TYPES:
        return None
    mods = {canonical_modality(lab) for lab in labels if lab}
    return mods.pop() if len(mods) == 1 and labels and None not in mods else None


def device_of(info: Any) -> str:
    """The device id a stream belongs to."""
    dev = str(info.desc().child_value("device") or "")
    if dev:
        return dev
    sid = str(info.source_id() or "")
    if "/" in sid:
        return sid.rsplit("/", 1)[0]
    return sid or str(info.hostname())


def sample_dtype(channel_format: int) -> type | None:
    """The numpy dtype liblsl writes for a channel format; None for strings."""
    import pylsl

    return {
        pylsl.cf_float32: np.float32,
        pylsl.cf_double64: np.float64,
        pylsl.cf_int8: np.int8,
        pylsl.cf_int16: np.int16,
        pylsl.cf_int32: np.int32,
        pylsl.cf_int64: np.int64,
    }.get(channel_format)


def pull_chunk(inlet: Any, buf: np.ndarray | None, n_ch: int) -> tuple[np.ndarray, np.ndarray]:
    """What an inlet has now: samples as float64 ``(n, n_ch)`` and LSL times ``(n,)``.

    ``buf`` is a preallocated C-contiguous array of the stream's own dtype (from
    :func:`sample_dtype`), or None for a string stream, whose values are parsed as numbers
    (NaN where a value is not one).
    """
    if buf is None:
        rows, ts = inlet.pull_chunk(timeout=0.0, max_samples=1024)
        x = np.full((len(ts), n_ch), np.nan)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                with contextlib.suppress(TypeError, ValueError):
                    x[i, j] = float(v)
        return x, np.asarray(ts, dtype=np.float64)
    _, ts = inlet.pull_chunk(timeout=0.0, max_samples=buf.shape[0], dest_obj=buf)
    n = len(ts)
    return buf[:n].astype(np.float64), np.asarray(ts, dtype=np.float64)


class _Inlet:
    """An open inlet; ``info`` is the full stream info (a resolver's lacks the description)."""

    def __init__(self, info: Any, key: tuple[str, str, str], max_buflen_s: int) -> None:
        import pylsl

        # recover=False: with recovery on, liblsl blocks a pull while it tries to reconnect to a
        # vanished outlet; we drop the inlet on LostError and re-resolve instead
        self.inlet = pylsl.StreamInlet(info, max_buflen=max_buflen_s, recover=False)
        self.inlet.open_stream(timeout=5.0)
        # with desc: channel labels, device; on failure keep the short info (they may be missing)
        with contextlib.suppress(Exception):
            info = self.inlet.info(timeout=5.0)
        self.info = info
        self.uid = info.uid()
        self.name = info.name()
        self.key = key
        self.device = device_of(info)
        self.modality: str | None = None
        self.fs = info.nominal_srate()
        self.n_ch = info.channel_count()
        dtype = sample_dtype(info.channel_format())
        n = max(1024, int(self.fs * 4))
        self.buf = None if dtype is None else np.empty((n, self.n_ch), dtype=dtype)
        self.max_samples = n if dtype is not None else 1024
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
    """Every LSL stream of the configured types (or names, or source_ids), as chunks.

    Parameters
    ----------
    modalities
        Modalities the model uses; streams of others are not opened.
    problems
        Where counts and warnings go.
    types
        Stream types to take (case and aliases ignored: ``gsr`` takes every EDA stream);
        a generic type such as ``bio`` takes streams of that type by their channel labels.
    max_buflen_s
        Seconds an inlet buffers before liblsl drops the oldest samples.
    names, source_ids
        When given, only streams with one of these names or source_ids.
    """

    def __init__(
        self,
        modalities: Sequence[str],
        problems: Problems,
        types: Sequence[str] = ("ECG", "EDA", "TEMP", "BVP"),
        max_buflen_s: int = 30,
        resolve_every_s: float = 0.5,
        poll_s: float = 0.02,
        names: Sequence[str] | None = None,
        source_ids: Sequence[str] | None = None,
    ) -> None:
        self.modalities = list(modalities)
        self.problems = problems
        self.types = list(types)
        self.wanted_mods = {canonical_modality(t) for t in self.types} - {None}
        self.generic = {t.strip().lower() for t in self.types} & set(GENERIC_TYPES)
        self.names = list(names or [])
        self.source_ids = list(source_ids or [])
        self.max_buflen_s = max_buflen_s
        self.resolve_every_s = resolve_every_s
        self.poll_s = poll_s
        self.inlets: dict[tuple[str, str, str], _Inlet] = {}
        self._ignored: set[str] = set()

    def _predicate(self) -> str:
        """XPath over stream infos: names / source_ids if given (types are matched here, not
        by XPath, which is case-sensitive and knows no aliases)."""
        narrow = [f"name='{n}'" for n in self.names] + [f"source_id='{s}'" for s in self.source_ids]
        return " or ".join(narrow) if narrow else ""

    def match(self, info: Any) -> str | None:
        """The modality to read a stream as, or None (logged once) when it is not taken."""
        stype = info.type()
        labels = channel_labels(info)
        mod = modality_of(stype, labels)
        by_type = canonical_modality(stype) if stype.strip() else None
        taken = mod is not None and mod in self.modalities
        if taken and by_type is not None:
            taken = by_type in self.wanted_mods
        elif taken:  # matched by channel labels: a generic type listed, or its modality listed
            taken = stype.strip().lower() in self.generic or mod in self.wanted_mods
        if taken:
            return mod
        if info.uid() not in self._ignored:
            self._ignored.add(info.uid())
            self.problems.count("lsl_streams_ignored")
            why = (
                f"it carries {mod}, which the model does not use ({', '.join(self.modalities)})"
                if mod is not None and mod not in self.modalities
                else f"{mod} is not among the source's types {self.types}"
                if mod is not None
                else "neither its type nor its channel labels name a modality"
            )
            log.info(
                "LSL stream %r (type %r, %d channels labelled %s, %g Hz) is not used: %s; "
                "give it a type such as BVP/PPG, EDA/GSR, TEMP or ECG, or a generic type "
                "(bio) with channels labelled so, and list it in the source's types",
                info.name(),
                stype,
                info.channel_count(),
                labels or "nothing",
                info.nominal_srate(),
                why,
            )
        return None

    def _early_reject(self, info: Any) -> bool:
        """True for a stream that is not taken whatever its channels say (its type names a
        modality not wanted, or is neither such a type nor a generic one, or it was turned
        down before); logged once."""
        if info.uid() in self._ignored:
            return True
        stype = info.type()
        if canonical_modality(stype) if stype.strip() else None:
            return self.match(info) is None
        if stype.strip().lower() in GENERIC_TYPES:
            return False  # decided by the channel labels of the full info
        return self.match(info) is None

    def lag(self) -> dict[str, float]:
        """Per device, the largest lag (seconds) of its newest pulled sample behind our clock."""
        out: dict[str, float] = {}
        for inl in self.inlets.values():
            out[inl.device] = round(max(out.get(inl.device, 0.0), inl.lag_s), 3)
        return out

    async def run(self, stop: asyncio.Event, emit: Emit) -> None:
        """Resolve, pull and emit until ``stop``."""
        import pylsl
        from pylsl.util import LostError

        next_resolve = 0.0
        lsl_unix_offset()  # measured once, before the first chunk
        # a continuous resolver keeps listening: one-shot resolves missed streams of a busy host
        pred = self._predicate()
        resolver = (
            pylsl.ContinuousResolver(pred=pred, forget_after=5.0)
            if pred
            else pylsl.ContinuousResolver(forget_after=5.0)
        )
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_resolve:
                next_resolve = now + self.resolve_every_s
                for info in await asyncio.to_thread(resolver.results):
                    key = (device_of(info), info.source_id() or info.name(), info.type())
                    old = self.inlets.get(key)
                    if old is not None and old.uid == info.uid():
                        continue
                    if self._early_reject(info):
                        continue
                    try:
                        inl = await asyncio.to_thread(_Inlet, info, key, self.max_buflen_s)
                    except Exception as exc:  # noqa: BLE001 - a stream that will not open
                        self.problems.bad("lsl_open_errors", key[0], f"{info.name()}: {exc}")
                        continue
                    inl.modality = self.match(inl.info)
                    if inl.modality is None:
                        inl.inlet.close_stream()
                        continue
                    if old is not None:
                        log.info("LSL stream %s came back (new uid)", info.name())
                        self.problems.count("lsl_reconnects")
                        old.inlet.close_stream()
                    else:
                        log.info(
                            "LSL stream %s (type %s, %g Hz) -> device %s, %s",
                            info.name(),
                            info.type(),
                            info.nominal_srate(),
                            inl.device,
                            inl.modality,
                        )
                    self.inlets[key] = inl
            for inl in list(self.inlets.values()):
                try:
                    while await self._pull(inl, pylsl, emit):
                        pass
                except LostError:
                    log.warning(
                        "LSL stream %s (device %s) vanished; waiting for it to return",
                        inl.name,
                        inl.device,
                    )
                    self.problems.count("lsl_lost")
                    self.inlets.pop(inl.key, None)
                except Exception as exc:
                    log.exception("pull %s", inl.name)
                    self.problems.bad("lsl_pull_errors", inl.device, f"{inl.name}: {exc}")
            await asyncio.sleep(self.poll_s)

    async def _pull(self, inl: _Inlet, pylsl: Any, emit: Emit) -> bool:
        """Pull what is there; True when the buffer came back full (more may wait)."""
        x, ts = pull_chunk(inl.inlet, inl.buf, inl.n_ch)
        n = len(ts)
        if n == 0:
            return False
        recv = time.perf_counter()
        shift = inl.correction + lsl_unix_offset()
        t0 = float(ts[0]) + shift
        inl.lag_s = pylsl.local_clock() - float(ts[-1]) - inl.correction
        if inl.modality is None:
            return False  # not matched to a modality (never pulled)
        ev = ChunkEvent(
            inl.device,
            inl.modality,
            x,
            None,
            None,
            recv,
            fs=inl.fs,
            stream=f"LSL stream {inl.name!r}",
            clock=CLOCK_LSL,
        )
        if inl.fs > 0:
            # regular stream: count samples; re-anchor only when the clock disagrees (a gap);
            # start_time None tells the DSP to count on from where the stream left off
            if inl.expected is None or abs(t0 - inl.expected) > 2.0 / inl.fs:
                ev.start_time = inl.expected = t0
            inl.expected += n / inl.fs
        else:
            inl.expected = t0
            ev.timestamps = ts + shift
        await emit(ev)
        return n == inl.max_samples
