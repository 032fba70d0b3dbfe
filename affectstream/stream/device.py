"""One device's live state: DSP, rolling window, calibration and the hop schedule."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectstream.dsp.calibration import Calibration, OutputCentring, RunningStats, person_stats
from affectstream.dsp.preprocessor import Frames, Preprocessor
from affectstream.dsp.quality import window_quality
from affectstream.model.feature_input import FeatureEncoder
from affectstream.model.offline import baseline_frames, first_window_end
from affectstream.model.predictor import Predictor
from affectstream.stream.buffer import RollingWindow


@dataclass
class PendingWindow:
    """A window ready for the model (or an abstention) waiting for the next batch."""

    device: str
    t_end: float  #: window end, seconds
    #: model input: normalised frames ``(n_frames, n_channels)`` or features ``(n_features,)``;
    #: None for abstentions
    x: np.ndarray | None
    quality: float
    reason: str | None
    received: float  #: perf_counter() when the data completing the window arrived
    #: the device's output centring, applied to the prediction (None: served as predicted)
    outputs: OutputCentring | None = None


@dataclass
class DeviceCounters:
    """What happened to one device's data."""

    samples_in: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    windows: int = 0
    abstentions: int = 0
    dropped_samples: int = 0


class DeviceState:
    """Turns one device's chunks into windows on the bundle's schedule.

    The windows end every hop from the device's first frame (``window + j * hop`` frames), as
    :func:`affectstream.model.offline.window_ends` schedules them offline; with baseline or
    running calibration the first window waits until the baseline (the warm-up) is complete.
    A feature model's windows are cut from the first full window on: those inside the warm-up
    only feed the person's feature statistics and are not returned.
    """

    def __init__(
        self,
        device: str,
        predictor: Predictor,
        hop_s: float | None = None,
        max_missing: float = 0.1,
    ) -> None:
        meta = predictor.metadata
        self.device = device
        self.predictor = predictor
        self.pp = Preprocessor(meta["preprocess"])
        predictor.check_channels(self.pp.channel_names)
        self.rate = self.pp.rate
        self.n_win = predictor.window_frames
        self.hop = max(1, int(round((hop_s or float(meta["default_hop_s"])) * self.rate)))
        self.max_missing = max_missing
        rule = predictor.calibration_rule
        if rule["kind"] in ("subject", "rest"):
            what = "a person's whole data" if rule["kind"] == "subject" else "marked rest periods"
            raise ValueError(
                f"model {predictor.model_id} uses {rule['kind']!r} calibration ({what}), "
                "which the live monitor cannot provide; export a model trained with 'running', "
                "'baseline' or 'none' calibration"
            )
        self.n_base = baseline_frames(predictor)
        #: a feature model's encoder (the person's running feature statistics), else None
        self.features = (
            FeatureEncoder(meta, self.pp.channel_names, self.rate)
            if predictor.input_kind == "features"
            else None
        )
        frames_in = self.features is None
        self._base = (
            np.full((self.n_base, self.pp.n_channels), np.nan)
            if frames_in and self.n_base and rule["kind"] == "baseline"
            else None
        )
        #: the person's statistics so far (running calibration), updated frame by frame
        self.running = (
            RunningStats(self.pp.n_channels) if frames_in and rule["kind"] == "running" else None
        )
        self.calibration: Calibration | None = (
            predictor.calibration(None) if frames_in and rule["kind"] == "none" else None
        )
        #: the person's output centring (``centre_output`` bundles), applied by the monitor
        self.outputs = predictor.output_step()
        self.buffer = RollingWindow(self.n_win, self.pp.n_channels)
        self.next_end = first_window_end(
            self.n_win, self.hop, self.n_win if self.features else self.n_base
        )
        self.first_k: int | None = None
        self.counters = DeviceCounters()
        self.last_data = time.monotonic()
        self._win = np.empty((self.n_win, self.pp.n_channels))

    @property
    def modalities(self) -> list[str]:
        """Modalities this device feeds."""
        return self.pp.modalities

    def push(
        self,
        modality: str,
        samples: np.ndarray,
        *,
        start_time: float | None = None,
        timestamps: np.ndarray | None = None,
        received: float | None = None,
    ) -> list[PendingWindow]:
        """Feed one chunk; return the windows it completes."""
        recv = time.perf_counter() if received is None else received
        x = np.asarray(samples, dtype=np.float64)
        frames = self.pp.push(modality, x, start_time=start_time, timestamps=timestamps)
        c = self.counters
        c.samples_in[modality] = c.samples_in.get(modality, 0) + int(x.shape[0])
        self.last_data = time.monotonic()
        return self.take_frames(frames, recv)

    def push_many(
        self,
        chunks: Mapping[str, np.ndarray],
        *,
        start_times: Mapping[str, float] | None = None,
        received: float | None = None,
    ) -> list[PendingWindow]:
        """Feed one chunk of several modalities; return the windows completed."""
        recv = time.perf_counter() if received is None else received
        frames = self.pp.push_many(chunks, start_times=start_times)
        for m, x in chunks.items():
            self.counters.samples_in[m] = self.counters.samples_in.get(m, 0) + int(len(x))
        self.last_data = time.monotonic()
        return self.take_frames(frames, recv)

    def take_frames(self, frames: Frames, received: float) -> list[PendingWindow]:
        """Append frames to the window, filling the baseline first; cut scheduled windows."""
        m = len(frames)
        if m == 0:
            return []
        if self.first_k is None:
            self.first_k = int(frames.k[0])
        out: list[PendingWindow] = []
        x = frames.x
        start = self.buffer.total
        if self._base is not None and start < self.n_base:
            n = min(m, self.n_base - start)
            self._base[start : start + n] = x[:n]
            if start + n == self.n_base:
                self.calibration = self.predictor.calibration(
                    person_stats(self._base, self.rate, self.predictor.calibration_rule)
                )
                self._base = None
        pos = 0
        while pos < m:
            to_end = self.next_end - self.buffer.total
            take = min(m - pos, to_end)
            if self.running is not None:
                self.running.update(x[pos : pos + take])
            self.buffer.append(x[pos : pos + take])
            pos += take
            if self.buffer.total == self.next_end:
                if self.running is not None and self.buffer.total >= self.n_base:
                    self.calibration = self.predictor.calibration(self.running.stats())
                cut = self._cut(received)
                if cut is not None:
                    out.append(cut)
                self.next_end += self.hop
        self.counters.frames += m
        return out

    def _cut(self, received: float) -> PendingWindow | None:
        w = self.buffer.window(self._win)
        if self.features is not None:
            encoded = self.features.encode(w, self.buffer.total / self.rate)  # feeds calibration
            if self.buffer.total < self.n_base:
                return None  # warm-up
        t_end = (self.first_k + self.buffer.total) / self.rate  # type: ignore[operator]
        quality, reason = window_quality(w, self.pp.channel_names, self.rate, self.max_missing)
        self.counters.windows += 1
        if self.features is not None:
            if reason is not None:
                self.counters.abstentions += 1
                return PendingWindow(self.device, t_end, None, quality, reason, received)
            return PendingWindow(self.device, t_end, encoded, quality, None, received, self.outputs)
        if reason is not None or self.calibration is None:
            self.counters.abstentions += 1
            return PendingWindow(
                self.device, t_end, None, quality, reason or "calibrating", received
            )
        return PendingWindow(
            self.device,
            t_end,
            self.calibration.apply(w).astype(np.float32),
            quality,
            None,
            received,
            self.outputs,
        )

    def status(self) -> dict[str, Any]:
        """Counters and state, JSON-ready."""
        c = self.counters
        return {
            "device": self.device,
            "samples_in": dict(c.samples_in),
            "frames": c.frames,
            "windows": c.windows,
            "abstentions": c.abstentions,
            "calibrated": self.calibration is not None
            or (self.features is not None and self.buffer.total >= self.n_base),
            "dropped_samples": sum(self.pp.dropped_samples.values()),
        }
