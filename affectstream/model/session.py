"""One person's session under a bundle: the window schedule, calibration and the output step.

:class:`PersonSession` turns a person's model-rate frames, in time order and in any chunks, into
the windows the model is asked about: on the schedule ``window + j * hop`` frames from the
session's first frame, each with its calibrated model input (normalised frames for a CNN,
calibrated features for a feature model) or the reason the monitor abstains. It holds the
person's calibration state (running or baseline frame statistics, or a
:class:`~affectstream.model.feature_calibration.FeatureCalibrator`) and the output step
(:meth:`~affectstream.model.predictor.Predictor.output_step`). The live monitor keeps one per
device (:class:`affectstream.stream.device.DeviceState`), offline prediction one per recording
(:func:`affectstream.model.offline.predict_recording`), so the two agree by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.dsp.calibration import Calibration, RunningStats, person_stats, warmup_s
from affectstream.dsp.preprocessor import Frames
from affectstream.dsp.quality import feeds_calibration
from affectstream.dsp.rolling_window import RollingWindow
from affectstream.dsp.sliding_features import SlidingFeatures
from affectstream.dsp.sliding_quality import SlidingQuality
from affectstream.model.feature_input import FeatureEncoder
from affectstream.model.predictor import Predictor

#: Frame rules the live monitor can follow (``subject`` needs the whole session, ``rest`` the
#: person's rest periods marked as they end).
LIVE_FRAME_RULES = ("none", "baseline", "running", "anchored")


def first_window_end(window: int, hop: int, first: int) -> int:
    """The first end on the schedule ``window + j * hop`` (frames) that is at or after ``first``
    (the calibration's warm-up). The session counts on from here by ``hop``."""
    steps = max(0, -(-(first - window) // hop))
    return window + steps * hop


def window_ends(n_frames: int, window: int, hop: int, first: int) -> np.ndarray:
    """Exclusive end indices (in frames since the first frame) of the windows to predict: from
    :func:`first_window_end` every ``hop`` up to ``n_frames``."""
    return np.arange(first_window_end(window, hop, first), n_frames + 1, hop)


def baseline_frames(predictor: Predictor) -> int:
    """Frames the calibration needs before the first prediction (0 without a warm-up)."""
    return int(round(warmup_s(predictor.calibration_rule) * predictor.rate))


@dataclass
class SessionWindow:
    """One scheduled window: its end, its model input or why there is none.

    Attributes
    ----------
    end
        End index in frames since the session's first frame (exclusive).
    t_end
        End time in seconds on the frames' clock.
    x
        Model input: normalised frames ``(n_frames, n_channels)`` or calibrated features
        ``(n_features,)``, float32; None for abstentions.
    quality
        Window quality in [0, 1].
    reason
        None when predicted; otherwise why not (``calibrating``, ``missing data ...``).
    """

    end: int
    t_end: float
    x: np.ndarray | None
    quality: float
    reason: str | None


class PersonSession:
    """One person's session under ``predictor``'s bundle (see the module docstring).

    Parameters
    ----------
    predictor
        The bundle's predictor (metadata: calibration rule, window, hop, input kind).
    hop_s
        Seconds between windows; default the bundle's training hop.
    max_missing
        Share of missing frames above which a window is abstained on; default the bundle's
        (what training left out: :attr:`Predictor.max_missing`).
    person
        For ``subject`` calibration (offline only): the person's frame statistics over the
        whole session, ``(mean, std)`` of shape ``(n_channels,)`` each.
    """

    def __init__(
        self,
        predictor: Predictor,
        channel_names: list[str],
        hop_s: float | None = None,
        max_missing: float | None = None,
        person: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        meta = predictor.metadata
        self.predictor = predictor
        self.channel_names = list(channel_names)
        self.rate = predictor.rate
        self.n_win = predictor.window_frames
        self.hop = max(1, int(round((hop_s or float(meta["default_hop_s"])) * self.rate)))
        self.max_missing = predictor.max_missing if max_missing is None else max_missing
        rule = predictor.calibration_rule
        self.n_base = baseline_frames(predictor)
        #: a feature model's encoder (the person's feature calibration), else None
        self.features = (
            FeatureEncoder(meta, self.channel_names, self.rate)
            if predictor.input_kind == "features"
            else None
        )
        frames_in = self.features is None
        if frames_in and rule["kind"] == "rest":
            raise ValueError(
                f"model {predictor.model_id} uses 'rest' calibration, which needs the person's "
                "rest periods marked as they end; no session takes them yet. Use a model "
                "trained with 'running', 'baseline', 'subject' or 'none' calibration"
            )
        if frames_in and rule["kind"] == "anchored":
            raise ValueError(
                f"model {predictor.model_id} is a frame model with 'anchored' calibration, "
                "which only feature models have; re-export it"
            )
        if frames_in and rule["kind"] == "subject" and person is None:
            raise ValueError(
                f"model {predictor.model_id} uses 'subject' calibration (the person's whole "
                "data), which a live session cannot provide; export a model trained with "
                "'running', 'baseline' or 'none' calibration"
            )
        self._base = (
            np.full((self.n_base, len(self.channel_names)), np.nan)
            if frames_in and self.n_base and rule["kind"] == "baseline"
            else None
        )
        #: the person's statistics so far (running calibration), updated frame by frame
        self.running = (
            RunningStats(len(self.channel_names))
            if frames_in and rule["kind"] == "running"
            else None
        )
        self.calibration: Calibration | None = None
        if frames_in and rule["kind"] == "none":
            self.calibration = predictor.calibration(None)
        elif frames_in and rule["kind"] == "subject":
            self.calibration = predictor.calibration(person)
        #: the person's baseline statistics once a ``baseline`` warm-up is complete
        self._person: tuple[np.ndarray, np.ndarray] | None = None
        #: the person's output post-processing, applied to the predictions in time order
        self.outputs = predictor.output_step()
        self.buffer = RollingWindow(self.n_win, len(self.channel_names))
        #: a feature model's window features, kept up to date frame by frame
        self.sliding = (
            SlidingFeatures(self.channel_names, self.rate, self.n_win) if self.features else None
        )
        #: the window's quality indices, kept up to date frame by frame
        self.quality = SlidingQuality(self.channel_names, self.rate, self.n_win, self.max_missing)
        self.next_end = first_window_end(
            self.n_win, self.hop, self.n_win if self.features else self.n_base
        )
        self.first_k: int | None = None
        self._win = np.empty((self.n_win, len(self.channel_names)))

    @property
    def calibrated(self) -> bool:
        """True once the warm-up is over."""
        if self.features is not None:
            return self.buffer.total >= self.n_base
        return self.calibration is not None

    def warmup(self) -> tuple[float, float] | None:
        """While the session waits for its first window: ``(t, left_s)``, the time of its last
        frame (seconds on the frames' clock) and the seconds of data still needed; None before
        any frame and once the first window is due."""
        if self.first_k is None:
            return None
        first_end = first_window_end(self.n_win, self.hop, self.n_base)
        done = self.buffer.total
        if done >= first_end:
            return None
        return (self.first_k + done) / self.rate, (first_end - done) / self.rate

    def take_frames(self, frames: Frames) -> list[SessionWindow]:
        """Append frames (the next ones in time); return the scheduled windows they complete,
        warm-up windows of a feature model excepted (they only feed its calibration)."""
        m = len(frames)
        if m == 0:
            return []
        if self.first_k is None:
            self.first_k = int(frames.k[0])
        out: list[SessionWindow] = []
        x = frames.x
        start = self.buffer.total
        if self._base is not None and start < self.n_base:
            n = min(m, self.n_base - start)
            self._base[start : start + n] = x[:n]
            if start + n == self.n_base:
                self._person = person_stats(self._base, self.rate, self.predictor.calibration_rule)
                self.calibration = self.predictor.calibration(self._person)
                self._base = None
        pos = 0
        while pos < m:
            take = min(m - pos, self.next_end - self.buffer.total)
            if self.running is not None:
                self.running.update(x[pos : pos + take])
            k = int(frames.k[pos])
            if self.sliding is not None:
                self.sliding.push(k, x[pos : pos + take])
            self.quality.push(k, x[pos : pos + take])
            self.buffer.append(x[pos : pos + take])
            pos += take
            if self.buffer.total == self.next_end:
                if self.running is not None and self.buffer.total >= self.n_base:
                    self.calibration = self.predictor.calibration(self.running.stats())
                cut = self._cut()
                if cut is not None:
                    out.append(cut)
                self.next_end += self.hop
        return out

    def _cut(self) -> SessionWindow | None:
        end = self.buffer.total
        t_end = (self.first_k + end) / self.rate  # type: ignore[operator]
        if self.features is not None and self.sliding is not None:
            # the window's frames are copied out only for features without a sliding form
            w = self.buffer.window(self._win) if self.sliding.from_scratch else None
            f = self.sliding.features(w)
            quality, reason = self.quality.quality()
            # every window but those mostly missing feeds the person's calibration
            fit = feeds_calibration(reason)
            encoded = self.features.encode_features(f, end / self.rate, fit)
            if end < self.n_base:
                return None  # warm-up
            return SessionWindow(end, t_end, None if reason else encoded, quality, reason)
        w = self.buffer.window(self._win)
        quality, reason = self.quality.quality()
        if reason is not None or self.calibration is None:
            return SessionWindow(end, t_end, None, quality, reason or "calibrating")
        return SessionWindow(
            end, t_end, self.calibration.apply(w).astype(np.float32), quality, None
        )

    @property
    def resumable(self) -> bool:
        """False while a ``baseline`` warm-up is collecting its frames (minutes of frames, which
        :meth:`state_dict` does not keep: a restarted session starts that warm-up again)."""
        return self._base is None or self.buffer.total == 0

    def state_dict(self) -> dict[str, Any]:
        """The person's session without its window content: the schedule position, the
        calibration state (frame statistics or the feature calibrator) and the output step's
        state; JSON-ready apart from numpy arrays, a few hundred numbers. A session of the same
        bundle and channels given it with :meth:`load_state_dict` goes on as this one would if
        the frames it had held were missing (see :meth:`load_state_dict`).

        Raises
        ------
        ValueError
            While not :attr:`resumable`.
        """
        if not self.resumable:
            raise ValueError(
                "a session collecting its baseline warm-up cannot be saved; save it once the "
                "warm-up is over (it then needs no frames)"
            )
        return {
            "channels": list(self.channel_names),
            "window": self.n_win,
            "hop": self.hop,
            "first_k": self.first_k,
            "total": self.buffer.total,
            "next_end": self.next_end,
            "running": None if self.running is None else self.running.state_dict(),
            "person": None if self._person is None else [a.copy() for a in self._person],
            "features": None if self.features is None else self.features.calibrator.state_dict(),
            "outputs": None if self.outputs is None else self.outputs.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any], held: np.ndarray | None = None) -> None:
        """Continue a saved session. The window content is not part of the state: the held
        frames count as missing (unless ``held`` gives them back: the frames the window held,
        ``(min(window, total), n_channels)``, e.g. re-made from the raw data by a worker that
        took the device over; then the session goes on exactly as the saved one would), so the
        windows that overlap them abstain (``missing data``) and the first prediction comes one
        window after new frames start, with the person's calibration where it was. Feed the
        frames that follow the saved ones (frames between are missing: pass them as NaN, as a
        restored Preprocessor does after a gap).

        Raises
        ------
        ValueError
            When the state is for other channels, window or hop.
        """
        mine = (list(self.channel_names), self.n_win, self.hop)
        theirs = (list(state["channels"]), int(state["window"]), int(state["hop"]))
        if mine != theirs:
            raise ValueError(
                f"session state is for channels {theirs[0]}, a window of {theirs[1]} frames "
                f"and a hop of {theirs[2]}; this session has {mine[0]}, {mine[1]} and {mine[2]}"
            )
        self.first_k = None if state["first_k"] is None else int(state["first_k"])
        total = int(state["total"])
        self.next_end = int(state["next_end"])
        n_held = min(self.n_win, total)
        self.buffer.resume(total - n_held)
        if n_held and self.first_k is not None:
            # the frames the window held are lost: they enter as missing, through the same
            # trackers as any frame, so the window's features and quality are exactly those of
            # a session whose last window of frames was missing
            k0 = self.first_k + total - n_held
            missing = np.full((n_held, len(self.channel_names)), np.nan)
            if held is not None:
                if held.shape != missing.shape:
                    raise ValueError(
                        f"the held frames have shape {held.shape}; the saved window held "
                        f"{missing.shape}"
                    )
                missing = np.asarray(held, dtype=np.float64)
            if self.sliding is not None:
                self.sliding.push(k0, missing)
            self.quality.push(k0, missing)
            self.buffer.append(missing)
        if self.running is not None and state["running"] is not None:
            self.running.load_state_dict(state["running"])
            if self.buffer.total >= self.n_base:
                self.calibration = self.predictor.calibration(self.running.stats())
        if state["person"] is not None:
            mean, std = (np.asarray(a, dtype=np.float64) for a in state["person"])
            self._person = (mean, std)
            self._base = None
            self.calibration = self.predictor.calibration(self._person)
        elif self._base is not None and self.buffer.total:
            raise ValueError("session state has no baseline statistics for a baseline model")
        if self.features is not None and state["features"] is not None:
            self.features.calibrator.load_state_dict(state["features"])
        if self.outputs is not None and state["outputs"] is not None:
            self.outputs.load_state_dict(state["outputs"])

    def serve(self, probs: np.ndarray) -> np.ndarray:
        """The model's probabilities for this session's predicted windows, in time order
        (``(n, n_classes)`` or one row), after the output step."""
        return probs if self.outputs is None else self.outputs.apply(probs)
