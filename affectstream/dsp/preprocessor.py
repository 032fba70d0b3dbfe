"""The Preprocessor: incoming chunks of a multi-modality stream in, model-rate frames out.

One object per device. Each modality is filtered causally at its own rate (state carried between
chunks), resampled by timestamps onto the shared grid ``k / model_rate`` and assembled into
frames of all channels. Training runs recordings through exactly this path
(:meth:`Preprocessor.process_recording`), so a training window is what the live buffer holds.

Configuration is a plain dict, storable in a model bundle::

    {"model_rate": 32.0,
     "max_gap_s": 0.5,
     "modalities": [
        {"name": "bvp", "fs": 64.0, "channels": ["bvp"]},        # filters from the preset
        {"name": "eda", "fs": 4.0},
        {"name": "temp", "fs": 4.0, "filters": [{"kind": "lowpass", "cutoff": 0.2, "order": 2}]},
        {"name": "hr", "fs": 1.0, "max_gap_s": 3.0},             # per-modality gap (seconds;
     ],                                                           # hr and ibi default to 3 s)
     "derived": [{"name": "heart_rate", "source": "bvp"}]}   # optional: channels computed
                                                               # from the frames, appended last

``derived`` channels are computed causally from the filtered frames of their source
(:class:`affectstream.dsp.heart_rate.StreamingHeartRate`: beats/min).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.dsp.filters import StreamingFilter, design_sos, highest_passband_edge
from affectstream.dsp.heart_rate import HEART_RATE_SOURCES, StreamingHeartRate
from affectstream.dsp.presets import MAX_GAP_S, preset
from affectstream.dsp.resample import GridResampler

CONFIG_VERSION = 1

#: Channels the Preprocessor can derive from a modality's frames: name -> allowed sources.
DERIVED_CHANNELS = {"heart_rate": HEART_RATE_SOURCES}

#: Largest spacing of two input samples that is interpolated across (seconds); frames inside
#: a longer gap are NaN.
DEFAULT_MAX_GAP_S = 0.5


@dataclass(frozen=True)
class Frames:
    """Model-rate frames.

    Attributes
    ----------
    k
        Grid indices, shape ``(m,)`` int64; frame ``i`` is at ``k[i] / rate`` seconds.
    x
        Values, shape ``(m, n_channels)`` float64; NaN where data was missing.
    rate
        Grid rate in Hz.
    """

    k: np.ndarray
    x: np.ndarray
    rate: float

    @property
    def t(self) -> np.ndarray:
        """Frame times in seconds, shape ``(m,)``."""
        return self.k / self.rate

    def __len__(self) -> int:
        return int(self.k.size)

    @staticmethod
    def concat(parts: Sequence[Frames], n_channels: int, rate: float) -> Frames:
        """Join consecutive frame blocks."""
        if not parts:
            return Frames(np.empty(0, np.int64), np.empty((0, n_channels)), rate)
        return Frames(
            np.concatenate([p.k for p in parts]), np.concatenate([p.x for p in parts]), rate
        )


class _Modality:
    """Per-modality state: filter, sample clock, NaN hold, resampler, pending grid values."""

    def __init__(self, spec: Mapping[str, Any], rate: float, max_gap_s: float) -> None:
        self.name = str(spec["name"])
        self.fs = float(spec["fs"])
        self.channels = list(spec["channels"])
        self.filter = StreamingFilter(design_sos(spec["filters"], self.fs), len(self.channels))
        self.resampler = GridResampler(
            rate, len(self.channels), float(spec.get("max_gap_s", max_gap_s))
        )
        self.start_time: float | None = None
        self.n_seen = 0
        self.hold = np.zeros(len(self.channels))
        self.pending_k = 0
        self.pending: list[np.ndarray] = []
        self.pending_n = 0
        self.dropped = 0  #: samples dropped because their time was not after the last one
        self._offset_cache: dict[int, np.ndarray] = {}

    def push(self, x: np.ndarray, timestamps: np.ndarray | None, start_time: float | None) -> None:
        n = x.shape[0]
        if timestamps is None:
            if self.start_time is None:
                if start_time is None:
                    raise ValueError(
                        f"the first chunk of {self.name!r} needs a start_time or timestamps "
                        "(seconds) to place it on the model grid"
                    )
                self.start_time = float(start_time)
            elif (
                start_time is not None
                and abs(float(start_time) - (self.start_time + self.n_seen / self.fs))
                > 0.5 / self.fs
            ):
                # the stream's clock moved (gap or drift): re-anchor the regular clock here
                self.start_time = float(start_time) - self.n_seen / self.fs
            t = (self.start_time + self.n_seen / self.fs) + self._offsets(n)
            regular = 1.0 / self.fs <= self.resampler.max_gap_s
        else:
            regular = False
            t = np.asarray(timestamps, dtype=np.float64)
            if t.shape != (n,):
                raise ValueError(
                    f"{self.name!r}: {t.shape[0] if t.ndim else 0} timestamps for {n} samples"
                )
            if self.start_time is None:
                self.start_time = float(t[0]) if n else None
        self.n_seen += n
        last = self.resampler.last_time
        if last is not None and n and t[0] <= last:
            keep = t > last  # samples at or before ones already seen cannot be placed in time
            self.dropped += int(n - keep.sum())
            t, x = t[keep], x[keep]
            n = x.shape[0]
            if n == 0:
                return
            if np.any(np.diff(t) <= 0):
                raise ValueError(f"{self.name!r}: timestamps within a chunk must increase")
        ok: np.ndarray | None = None
        if not np.isfinite(x).all():
            ok = np.isfinite(x).all(axis=1)
            x = x.copy()
            for i in np.flatnonzero(~ok):  # rare: hold the last finite value, in order
                bad = ~np.isfinite(x[i])
                x[i, bad] = (x[i - 1] if i else self.hold)[bad]
        if n:
            self.hold = x[-1].copy()
        rows = np.array(x.T, dtype=np.float64, order="C")
        self.filter.process_rows(rows)
        k0, vals = self.resampler.process(t, rows, ok, regular)
        if vals.shape[0]:
            if not self.pending:
                self.pending_k = k0
            self.pending.append(vals)
            self.pending_n += vals.shape[0]

    def state_dict(self) -> dict[str, Any]:
        """The carried state: sample clock, held value, filter, resampler, pending values."""
        pend = np.concatenate(self.pending) if self.pending else np.empty((0, len(self.channels)))
        return {
            "start_time": self.start_time,
            "n_seen": self.n_seen,
            "hold": self.hold.copy(),
            "pending_k": self.pending_k,
            "pending": pend,
            "dropped": self.dropped,
            "filter": self.filter.state_dict(),
            "resampler": self.resampler.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of the same modality spec."""
        pend = np.asarray(state["pending"], dtype=np.float64).reshape(-1, len(self.channels))
        self.start_time = None if state["start_time"] is None else float(state["start_time"])
        self.n_seen = int(state["n_seen"])
        self.hold = np.asarray(state["hold"], dtype=np.float64).reshape(len(self.channels))
        self.pending_k = int(state["pending_k"])
        self.pending = [pend] if pend.shape[0] else []
        self.pending_n = pend.shape[0]
        self.dropped = int(state["dropped"])
        self.filter.load_state_dict(state["filter"])
        self.resampler.load_state_dict(state["resampler"])

    def _offsets(self, n: int) -> np.ndarray:
        """``arange(n) / fs``, cached for the chunk sizes a stream keeps sending."""
        a = self._offset_cache.get(n)
        if a is None:
            if len(self._offset_cache) > 64:
                self._offset_cache.clear()
            a = self._offset_cache[n] = np.arange(n) / self.fs
        return a

    def take(self, k_from: int, k_to: int) -> np.ndarray:
        """Remove and return pending values for grid indices ``[k_from, k_to)``."""
        buf = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)
        a, b = k_from - self.pending_k, k_to - self.pending_k
        out, rest = buf[a:b], buf[b:]
        self.pending = [rest] if rest.shape[0] else []
        self.pending_k = k_to
        self.pending_n = rest.shape[0]
        return out

    @property
    def pending_end(self) -> int:
        return self.pending_k + self.pending_n


class Preprocessor:
    """Turn chunks of several modalities into frames on the model grid.

    Parameters
    ----------
    config
        Plain dict as in the module docstring. ``filters`` defaults to the modality's preset,
        ``channels`` to ``[name]``. :attr:`config` holds the fully resolved copy.

    Raises
    ------
    ValueError
        For a config the stream cannot satisfy (a filter edge above a stream's Nyquist
        frequency, a band above the grid's Nyquist frequency, duplicate modalities, ...).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = self.resolve_config(config)
        self.rate = float(self.config["model_rate"])
        max_gap = float(self.config["max_gap_s"])
        self._mods = {
            m["name"]: _Modality(m, self.rate, max_gap) for m in self.config["modalities"]
        }
        self._k_emitted: int | None = None
        names = self._modality_channel_names()
        self._derived = [
            (names.index(d["source"]), StreamingHeartRate(self.rate, d["source"]))
            for d in self.config["derived"]
        ]

    def state_dict(self) -> dict[str, Any]:
        """Everything the streaming DSP carries from one chunk to the next (filter states,
        sample clocks, resampler positions, derived channels' recent frames; a few hundred
        numbers), JSON-ready apart from numpy arrays. A Preprocessor built from the same config
        and given it with :meth:`load_state_dict` continues sample for sample as this one
        would: a restarted monitor resumes a device's DSP where it stopped."""
        return {
            "k_emitted": self._k_emitted,
            "modalities": {name: m.state_dict() for name, m in self._mods.items()},
            "derived": [d.state_dict() for _, d in self._derived],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a Preprocessor with the same config.

        Raises
        ------
        ValueError
            When the state's modalities or derived channels are not this config's.
        """
        mods = state["modalities"]
        if set(mods) != set(self._mods) or len(state["derived"]) != len(self._derived):
            raise ValueError(
                f"preprocessor state is for modalities {sorted(mods)} with "
                f"{len(state['derived'])} derived channel(s); this preprocessor has "
                f"{sorted(self._mods)} with {len(self._derived)}"
            )
        for name, m in self._mods.items():
            m.load_state_dict(mods[name])
        for (_, d), s in zip(self._derived, state["derived"], strict=True):
            d.load_state_dict(s)
        self._k_emitted = None if state["k_emitted"] is None else int(state["k_emitted"])

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Preprocessor:
        """Same as the constructor; reads well at call sites that load a bundle."""
        return cls(config)

    @staticmethod
    def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``config`` and fill every default, returning a new plain dict."""
        if not isinstance(config, Mapping):
            raise ValueError(f"preprocessor config must be a mapping; got {type(config).__name__}")
        cfg = copy.deepcopy(dict(config))
        version = cfg.setdefault("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ValueError(
                f"preprocessor config version {version} is not supported (expected "
                f"{CONFIG_VERSION}); upgrade affectstream or re-export the model"
            )
        rate = cfg.get("model_rate")
        if not isinstance(rate, int | float) or not np.isfinite(rate) or rate <= 0:
            raise ValueError(f"model_rate must be a positive number of Hz; got {rate!r}")
        cfg["model_rate"] = float(rate)
        cfg["max_gap_s"] = float(cfg.get("max_gap_s", DEFAULT_MAX_GAP_S))
        mods = cfg.get("modalities")
        if not mods:
            raise ValueError("preprocessor config needs a non-empty 'modalities' list")
        seen = set()
        out = []
        for spec in mods:
            m = dict(spec)
            name = m.get("name")
            if not name:
                raise ValueError(f"modality entry {m} needs a 'name' (ecg, eda, temp, bvp, ...)")
            if name in seen:
                raise ValueError(f"modality {name!r} is listed twice")
            seen.add(name)
            fs = m.get("fs")
            if not isinstance(fs, int | float) or not np.isfinite(fs) or fs <= 0:
                raise ValueError(f"modality {name!r}: fs must be a positive rate in Hz; got {fs!r}")
            m["fs"] = float(fs)
            m["channels"] = list(m.get("channels") or [name])
            if "filters" not in m:
                m["filters"] = preset(m.pop("preset", name))
            if "max_gap_s" in m or name in MAX_GAP_S:
                gap = m.get("max_gap_s", MAX_GAP_S.get(name))
                if not isinstance(gap, int | float) or not gap > 0:
                    raise ValueError(
                        f"modality {name!r}: max_gap_s must be a positive number of seconds; "
                        f"got {gap!r}"
                    )
                m["max_gap_s"] = float(gap)
            try:
                design_sos(m["filters"], m["fs"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{name.upper()} stream at {fs:g} Hz: {exc}") from None
            edge = highest_passband_edge(m["filters"])
            if m["fs"] > cfg["model_rate"] and edge >= cfg["model_rate"] / 2:
                raise ValueError(
                    f"{name.upper()} passes up to {edge:g} Hz but the model grid of "
                    f"{cfg['model_rate']:g} Hz only holds up to {cfg['model_rate'] / 2:g} Hz: "
                    "lower the low-pass cutoff or raise model_rate"
                )
            out.append(m)
        cfg["modalities"] = out
        derived = []
        for spec in cfg.get("derived") or []:
            d = dict(spec)
            name, source = d.get("name"), d.get("source")
            if name not in DERIVED_CHANNELS:
                raise ValueError(
                    f"derived channel {name!r} is unknown; derived channels are "
                    f"{', '.join(DERIVED_CHANNELS)}"
                )
            if name in seen:
                raise ValueError(f"derived channel {name!r} is listed twice or names a modality")
            seen.add(name)
            src = next((m for m in out if m["name"] == source), None)
            if source not in DERIVED_CHANNELS[name] or src is None or len(src["channels"]) != 1:
                raise ValueError(
                    f"derived channel {name!r} comes from one of the modalities "
                    f"{', '.join(DERIVED_CHANNELS[name])} (one channel, listed in 'modalities'); "
                    f"got source {source!r}"
                )
            derived.append({"name": name, "source": source})
        cfg["derived"] = derived
        return cfg

    @property
    def modalities(self) -> list[str]:
        """Modality names in frame order."""
        return list(self._mods)

    def _modality_channel_names(self) -> list[str]:
        names = []
        for m in self._mods.values():
            if len(m.channels) == 1:
                names.append(m.name)
            else:
                names.extend(f"{m.name}:{c}" for c in m.channels)
        return names

    @property
    def channel_names(self) -> list[str]:
        """One name per frame column: ``bvp`` or ``ecg:MLII`` for multi-channel modalities,
        then the derived channels (``heart_rate``)."""
        return self._modality_channel_names() + [d["name"] for d in self.config["derived"]]

    @property
    def n_channels(self) -> int:
        """Columns of a frame."""
        return sum(len(m.channels) for m in self._mods.values()) + len(self.config["derived"])

    def push(
        self,
        modality: str,
        samples: np.ndarray,
        *,
        start_time: float | None = None,
        timestamps: np.ndarray | None = None,
    ) -> Frames:
        """Feed one chunk of one modality; return the frames it completes.

        Parameters
        ----------
        modality
            A modality name of the config.
        samples
            Shape ``(n,)`` or ``(n, n_channels)``, in the modality's unit. NaN/inf samples are
            allowed: they are held over for the filter and the frames around them are NaN.
        start_time
            Time of the first sample in seconds. Required on the first chunk of a regular
            stream; later chunks continue the sample clock (``start_time + i / fs``) unless a
            start time that disagrees by more than half a sample re-anchors it.
        timestamps
            Per-sample times in seconds, shape ``(n,)``, instead of the regular clock.
        """
        self._push_one(modality, samples, start_time, timestamps)
        return self._assemble()

    def push_many(
        self,
        chunks: Mapping[str, np.ndarray],
        *,
        start_times: Mapping[str, float] | None = None,
        timestamps: Mapping[str, np.ndarray] | None = None,
    ) -> Frames:
        """Feed one chunk of several modalities (a hop's worth); return the frames completed.

        Same as calling :meth:`push` for each modality in turn, with one frame assembly.
        """
        for name, x in chunks.items():
            self._push_one(
                name,
                x,
                None if start_times is None else start_times.get(name),
                None if timestamps is None else timestamps.get(name),
            )
        return self._assemble()

    def _push_one(
        self,
        modality: str,
        samples: np.ndarray,
        start_time: float | None,
        timestamps: np.ndarray | None,
    ) -> None:
        mod = self._mods.get(modality)
        if mod is None:
            raise ValueError(
                f"unknown modality {modality!r}; this preprocessor takes {', '.join(self._mods)}"
            )
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None] if len(mod.channels) == 1 else x[None, :]
        if x.ndim != 2 or x.shape[1] != len(mod.channels):
            raise ValueError(
                f"{modality!r} chunk has shape {np.shape(samples)}; expected (n, "
                f"{len(mod.channels)}) for channels {mod.channels}"
            )
        mod.push(x, timestamps, start_time)

    def _empty(self) -> Frames:
        return Frames(np.empty(0, np.int64), np.empty((0, self.n_channels)), self.rate)

    def _assemble(self) -> Frames:
        mods = self._mods.values()
        if self._k_emitted is None:
            firsts = [m.resampler.first_k for m in mods]
            if any(f is None for f in firsts):
                return self._empty()
            self._k_emitted = max(f for f in firsts if f is not None)
        k_from: int = self._k_emitted
        k_to = min(m.pending_end for m in mods)
        if k_to <= k_from:
            return self._empty()
        cols = [m.take(k_from, k_to) for m in mods]
        self._k_emitted = k_to
        x = cols[0] if len(cols) == 1 else np.concatenate(cols, axis=1)
        if self._derived:
            extra = [d.process(k_from, x[:, src]) for src, d in self._derived]
            x = np.concatenate([x, np.stack(extra, axis=1)], axis=1)
        return Frames(np.arange(k_from, k_to, dtype=np.int64), x, self.rate)

    def process_recording(self, recording: Any, chunk_s: float = 10.0) -> Frames:
        """Run a whole :class:`~affectstream.data.Recording` through this preprocessor.

        Chunks of ``chunk_s`` seconds of every modality are pushed in time order, as a live
        device would send them. The result does not depend on ``chunk_s``.
        """
        sigs = {}
        for name in self._mods:
            if name not in recording.signals:
                raise ValueError(
                    f"{recording.source or 'recording'} has no {name!r} signal (it has "
                    f"{', '.join(recording.signals)}); the preprocessor needs {self.modalities}"
                )
            sigs[name] = recording.signals[name]
        t0 = min(s.start_time for s in sigs.values())
        t_end = max(s.end_time for s in sigs.values())
        times = {n: s.times() for n, s in sigs.items()}
        parts = []
        edge = t0
        while edge < t_end:
            nxt = edge + chunk_s
            for name, s in sigs.items():
                i0, i1 = np.searchsorted(times[name], [edge, nxt], side="left")
                if i1 <= i0:
                    continue
                if s.timestamps is not None:
                    f = self.push(name, s.data[i0:i1], timestamps=s.timestamps[i0:i1])
                else:
                    st = s.start_time if self._mods[name].start_time is None else None
                    f = self.push(name, s.data[i0:i1], start_time=st)
                if len(f):
                    parts.append(f)
            edge = nxt
        return Frames.concat(parts, self.n_channels, self.rate)

    @property
    def dropped_samples(self) -> dict[str, int]:
        """Per modality, samples dropped because their time was not after an earlier sample's."""
        return {name: m.dropped for name, m in self._mods.items()}
