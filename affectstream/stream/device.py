"""One device's live state: its DSP and its person session (window schedule, calibration,
output step), with counters."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectstream.dsp.calibration import OutputCentring, OutputOffset
from affectstream.dsp.preprocessor import Frames, Preprocessor
from affectstream.model.predictor import Predictor
from affectstream.model.session import PersonSession


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
    #: the device's output step, applied to the prediction (None: served as predicted)
    outputs: OutputCentring | OutputOffset | None = None


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

    The device's Preprocessor makes frames; its :class:`~affectstream.model.session.PersonSession`
    (the one offline prediction uses too) cuts the windows every hop from the device's first
    frame, calibrates them to the person and holds the output step. With a warm-up the first
    window waits until it is over.
    """

    def __init__(
        self,
        device: str,
        predictor: Predictor,
        hop_s: float | None = None,
        max_missing: float | None = None,
    ) -> None:
        meta = predictor.metadata
        self.device = device
        self.predictor = predictor
        self.pp = Preprocessor(meta["preprocess"])
        predictor.check_channels(self.pp.channel_names)
        self.rate = self.pp.rate
        rule = predictor.calibration_rule
        if rule["kind"] in ("subject", "rest"):
            what = "a person's whole data" if rule["kind"] == "subject" else "marked rest periods"
            raise ValueError(
                f"model {predictor.model_id} uses {rule['kind']!r} calibration ({what}), "
                "which the live monitor cannot provide; export a model trained with 'running', "
                "'baseline' or 'none' calibration"
            )
        self.session = PersonSession(predictor, self.pp.channel_names, hop_s, max_missing)
        self.counters = DeviceCounters()
        self.last_data = time.monotonic()

    @property
    def modalities(self) -> list[str]:
        """Modalities this device feeds."""
        return self.pp.modalities

    @property
    def outputs(self) -> OutputCentring | OutputOffset | None:
        """The person's output step (see :meth:`PersonSession.serve`)."""
        return self.session.outputs

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
        """Hand frames to the person session; the windows it cuts, ready for the model."""
        c = self.counters
        c.frames += len(frames)
        out = []
        for w in self.session.take_frames(frames):
            c.windows += 1
            c.abstentions += w.x is None
            outputs = None if w.x is None else self.session.outputs
            out.append(
                PendingWindow(self.device, w.t_end, w.x, w.quality, w.reason, received, outputs)
            )
        return out

    @property
    def last_frame_s(self) -> float | None:
        """Time (seconds, the device's clock) just after its last frame; None before any."""
        s = self.session
        return None if s.first_k is None else (s.first_k + s.buffer.total) / s.rate

    def state_dict(self) -> dict[str, Any]:
        """What a restarted monitor needs to go on with this device (see
        :mod:`affectstream.stream.device_store`): the DSP's carried state
        (:meth:`Preprocessor.state_dict`), the person session without its window
        (:meth:`PersonSession.state_dict`) and the counters. A few kilobytes as JSON.

        Raises
        ------
        ValueError
            While the session cannot be saved (a baseline warm-up in progress).
        """
        c = self.counters
        return {
            "dsp": self.pp.state_dict(),
            "session": self.session.state_dict(),
            "counters": {
                "samples_in": dict(c.samples_in),
                "frames": c.frames,
                "windows": c.windows,
                "abstentions": c.abstentions,
            },
        }

    def load_state_dict(self, state: Mapping[str, Any], held: np.ndarray | None = None) -> None:
        """Go on from a :meth:`state_dict` saved under the same bundle: the next chunks continue
        the device's DSP and its person's calibration; the frames the window held count as
        missing, so the first prediction comes one window after data resumes (``held``: those
        frames, ``(n, n_channels)``, re-made from raw data; see
        :meth:`PersonSession.load_state_dict`).

        Raises
        ------
        ValueError, KeyError, TypeError
            When the state does not fit this bundle's preprocessing or session.
        """
        self.pp.load_state_dict(state["dsp"])
        self.session.load_state_dict(state["session"], held)
        c = state["counters"]
        self.counters.samples_in = {str(k): int(v) for k, v in c["samples_in"].items()}
        self.counters.frames = int(c["frames"])
        self.counters.windows = int(c["windows"])
        self.counters.abstentions = int(c["abstentions"])

    def status(self) -> dict[str, Any]:
        """Counters and state, JSON-ready."""
        c = self.counters
        return {
            "device": self.device,
            "samples_in": dict(c.samples_in),
            "frames": c.frames,
            "windows": c.windows,
            "abstentions": c.abstentions,
            "calibrated": self.session.calibrated,
            "dropped_samples": sum(self.pp.dropped_samples.values()),
        }
