"""Running a bundle over recordings the way the live monitor does, in one batch.

The live monitor and this module share the window schedule (:func:`window_ends`), the
Preprocessor config and the calibration from the bundle, so their predictions for the same
windows agree (to int8 rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.data import Recording
from affectstream.dsp.calibration import RunningStats, person_stats, warmup_s
from affectstream.dsp.preprocessor import Frames, Preprocessor
from affectstream.dsp.quality import window_quality
from affectstream.model.feature_input import FeatureEncoder
from affectstream.model.predictor import Predictor

#: Windows with more missing frames than this are abstained on.
MAX_MISSING = 0.1


def first_window_end(window: int, hop: int, first: int) -> int:
    """The first end on the schedule ``window + j * hop`` (frames) that is at or after ``first``
    (the calibration baseline). The live monitor counts on from here by ``hop``."""
    steps = max(0, -(-(first - window) // hop))
    return window + steps * hop


def window_ends(n_frames: int, window: int, hop: int, first: int) -> np.ndarray:
    """Exclusive end indices (in frames since the device's first frame) of the windows to predict:
    from :func:`first_window_end` every ``hop`` up to ``n_frames``."""
    return np.arange(first_window_end(window, hop, first), n_frames + 1, hop)


def baseline_frames(predictor: Predictor) -> int:
    """Frames the calibration needs before the first prediction (0 without a baseline)."""
    return int(round(warmup_s(predictor.calibration_rule) * predictor.rate))


@dataclass
class RecordingPredictions:
    """Predictions for one recording's windows.

    Attributes
    ----------
    t_end
        Window end times in seconds (absolute clock), shape ``(n,)``.
    probs
        Class probabilities, shape ``(n, n_classes)``; NaN rows for abstentions.
    quality
        Window quality in [0, 1], shape ``(n,)``.
    reasons
        None where predicted, else why not.
    true
        True label of each window where one label covers it whole, else None.
    """

    recording: Recording
    t_end: np.ndarray
    probs: np.ndarray
    quality: np.ndarray
    reasons: list[str | None]
    true: list[str | None]


def predict_recording(
    predictor: Predictor,
    rec: Recording,
    hop_s: float | None = None,
    max_missing: float = MAX_MISSING,
) -> RecordingPredictions:
    """Predict every window of ``rec`` on the live monitor's schedule."""
    meta = predictor.metadata
    pp = Preprocessor(meta["preprocess"])
    predictor.check_channels(pp.channel_names)
    frames = pp.process_recording(rec)
    n_win = predictor.window_frames
    hop = int(round((hop_s or float(meta["default_hop_s"])) * predictor.rate))
    nb = baseline_frames(predictor)
    rule = predictor.calibration_rule
    if rule["kind"] == "rest":
        raise ValueError(
            f"model {predictor.model_id} uses 'rest' calibration, which needs the person's rest "
            "periods marked; offline prediction does not take them yet. Use a model trained with "
            "'running', 'baseline', 'subject' or 'none' calibration"
        )
    if predictor.input_kind == "features":
        return _predict_features(predictor, rec, pp, frames, hop, nb, max_missing)
    running = RunningStats(len(pp.channel_names)) if rule["kind"] == "running" else None
    seen = 0
    if rule["kind"] == "none":
        cal = predictor.calibration(None)
    elif running is not None:
        cal = None  # per window, from the statistics up to its end (below)
    elif len(frames) >= max(nb, 1):
        cal = predictor.calibration(person_stats(frames.x, predictor.rate, rule))
    else:
        cal = None  # too short for the baseline: every window abstains ("calibrating")
    ends = window_ends(len(frames), n_win, hop, max(nb, n_win))
    reasons: list[str | None] = [None] * ends.size
    quality = np.zeros(ends.size)
    true: list[str | None] = []
    batch, rows = [], []
    for i, e in enumerate(ends):
        w = frames.x[e - n_win : e]
        t0, t1 = frames.k[e - n_win] / frames.rate, (frames.k[e - 1] + 1) / frames.rate
        true.append(rec.label_covering(t0, t1))
        quality[i], why = window_quality(w, pp.channel_names, frames.rate, max_missing)
        if running is not None:  # the person's statistics up to this window's end
            running.update(frames.x[seen:e])
            seen = e
            cal = predictor.calibration(running.stats())
        if cal is None:
            reasons[i] = "calibrating"
        elif why is not None:
            reasons[i] = why
        else:
            batch.append(cal.apply(w))
            rows.append(i)
    return _finish(predictor, rec, frames, ends, batch, rows, quality, reasons, true)


def _predict_features(
    predictor: Predictor,
    rec: Recording,
    pp: Preprocessor,
    frames: Frames,
    hop: int,
    nb: int,
    max_missing: float,
) -> RecordingPredictions:
    """A feature model: every window from the first full one feeds the person's feature
    statistics (as in the monitor); those ending after the warm-up are predicted."""
    n_win = predictor.window_frames
    enc = FeatureEncoder(predictor.metadata, pp.channel_names, frames.rate)
    first = first_window_end(n_win, hop, max(nb, n_win))
    ends = window_ends(len(frames), n_win, hop, first)
    reasons: list[str | None] = [None] * ends.size
    quality = np.zeros(ends.size)
    true: list[str | None] = []
    batch, rows = [], []
    i = 0
    for e in window_ends(len(frames), n_win, hop, n_win):
        w = frames.x[e - n_win : e]
        encoded = enc.encode(w, e / frames.rate)
        if e < first:
            continue  # warm-up: statistics only
        t0, t1 = frames.k[e - n_win] / frames.rate, (frames.k[e - 1] + 1) / frames.rate
        true.append(rec.label_covering(t0, t1))
        quality[i], reasons[i] = window_quality(w, pp.channel_names, frames.rate, max_missing)
        if reasons[i] is None:
            batch.append(encoded)
            rows.append(i)
        i += 1
    return _finish(predictor, rec, frames, ends, batch, rows, quality, reasons, true)


def _finish(
    predictor: Predictor,
    rec: Recording,
    frames: Frames,
    ends: np.ndarray,
    batch: list[np.ndarray],
    rows: list[int],
    quality: np.ndarray,
    reasons: list[str | None],
    true: list[str | None],
) -> RecordingPredictions:
    """Run the model on the windows to predict, in batches; assemble the result."""
    probs = np.full((ends.size, len(predictor.classes)), np.nan)
    if batch:
        x = np.stack(batch).astype(np.float32)
        out = np.concatenate([predictor.predict(x[j : j + 64]) for j in range(0, len(x), 64)])
        centring = predictor.output_step()
        probs[rows] = centring.apply(out) if centring is not None else out
    t_end = np.array([(frames.k[e - 1] + 1) / frames.rate for e in ends])
    return RecordingPredictions(rec, t_end, probs, quality, reasons, true)


def evaluate_predictions(preds: list[RecordingPredictions], classes: list[str]) -> dict[str, Any]:
    """Scores over every predicted window that has a true label."""
    from affectstream.model.metrics import summarize

    y, p, subj = [], [], []
    abstained = 0
    for rp in preds:
        for i, lab in enumerate(rp.true):
            if rp.reasons[i] is not None:
                abstained += 1
                continue
            if lab is None or lab not in classes:
                continue
            y.append(classes.index(lab))
            p.append(int(np.argmax(rp.probs[i])))
            subj.append(rp.recording.subject or rp.recording.name)
    if not y:
        raise ValueError(
            "no labelled window was predicted: are the labels among the model's "
            f"classes {classes}, and the recordings long enough?"
        )
    s = summarize(np.array(y), np.array(p), np.array(subj), classes)
    s["n_windows"] = len(y)
    s["abstained"] = abstained
    return s
