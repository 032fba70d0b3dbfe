"""Running a bundle over recordings the way the live monitor does, in one batch.

The live monitor and this module share the person session
(:class:`~affectstream.model.session.PersonSession`: window schedule, calibration, output step)
and the Preprocessor config from the bundle, so their predictions for the same windows agree
(to int8 rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.data import Recording
from affectstream.dsp.calibration import person_stats
from affectstream.dsp.preprocessor import Preprocessor
from affectstream.model.predictor import Predictor
from affectstream.model.session import PersonSession

#: Windows predicted in one model call.
BATCH = 64


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
    max_missing: float | None = None,
) -> RecordingPredictions:
    """Predict every window of ``rec`` as the live monitor does: the recording's frames through
    one :class:`~affectstream.model.session.PersonSession`, the model in batches, the output
    step in time order."""
    meta = predictor.metadata
    pp = Preprocessor(meta["preprocess"])
    predictor.check_channels(pp.channel_names)
    frames = pp.process_recording(rec)
    rule = predictor.calibration_rule
    person = None
    if rule["kind"] == "subject" and predictor.input_kind == "frames" and len(frames):
        person = person_stats(frames.x, predictor.rate, rule)  # offline only: whole session
    session = PersonSession(predictor, pp.channel_names, hop_s, max_missing, person)
    wins = session.take_frames(frames)
    probs = np.full((len(wins), len(predictor.classes)), np.nan)
    rows = [i for i, w in enumerate(wins) if w.x is not None]
    if rows:
        x = np.stack([wins[i].x for i in rows]).astype(np.float32)  # type: ignore[misc]
        out = np.concatenate([predictor.predict(x[j : j + BATCH]) for j in range(0, len(x), BATCH)])
        probs[rows] = session.serve(out)
    window_s = predictor.window_frames / predictor.rate
    return RecordingPredictions(
        rec,
        np.array([w.t_end for w in wins]),
        probs,
        np.array([w.quality for w in wins]),
        [w.reason for w in wins],
        [rec.label_covering(w.t_end - window_s, w.t_end) for w in wins],
    )


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
