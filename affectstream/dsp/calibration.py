"""Normalisation of model input, globally or from a person's own baseline.

One rule, used by training and by the live monitor alike:

- ``{"kind": "none"}``: every channel is centred and scaled with statistics of the training set;
- ``{"kind": "baseline", "baseline_s": 300}``: every channel is centred on the person's own mean
  over the first ``baseline_s`` seconds of the session (a resting period); amplitude channels
  (ECG, BVP, RESP) are also scaled by the person's baseline standard deviation, level channels
  (EDA, TEMP) by the training set's spread, so a person with a calm baseline is not blown up;
- ``{"kind": "subject"}``: as ``baseline``, with statistics over all of the person's data (an
  enrolment recording): offline only.

Features follow the same rule with :func:`calibrate_features`: the baseline mean of each feature
is subtracted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("none", "baseline", "subject")

#: Normalised values are clipped to +-CLIP (in units of the scale): artefacts cannot dominate a
#: window, and the int8 input keeps a fine step (8 / 255 of a unit).
CLIP = 4.0

#: Modalities whose amplitude carries no meaning across people and is scaled per person.
AMPLITUDE_MODALITIES = ("ecg", "bvp", "resp")


def check_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a calibration rule and fill defaults."""
    r = dict(rule)
    kind = r.setdefault("kind", "none")
    clip = float(r.setdefault("clip", CLIP))
    if not clip > 0:
        raise ValueError(f"calibration clip must be a positive number of scale units; got {clip}")
    if kind not in KINDS:
        raise ValueError(f"calibration kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    if kind == "baseline":
        b = float(r.setdefault("baseline_s", 300.0))
        if not b > 0:
            raise ValueError(f"calibration baseline_s must be a positive duration; got {b}")
    return r


@dataclass(frozen=True)
class Calibration:
    """Per-channel centre and scale: ``clip((x - center) / scale)``, shape ``(n_channels,)``."""

    center: np.ndarray
    scale: np.ndarray
    clip: float = CLIP

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Normalise frames ``(..., n_channels)``; NaN (missing) becomes 0, the centre."""
        z = (x - self.center) / self.scale
        z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(z, -self.clip, self.clip, out=z)


def _amplitude_mask(channel_names: Sequence[str]) -> np.ndarray:
    return np.array([c.split(":")[0] in AMPLITUDE_MODALITIES for c in channel_names])


def global_stats(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per channel over many frame arrays ``(n, n_channels)``.

    For baseline calibration pass frames already centred per person: the spread is then the
    spread around each person's own baseline.
    """
    allx = np.concatenate([f for f in frames if f.size])
    mean = np.nanmean(allx, axis=0)
    std = np.nanstd(allx, axis=0)
    return mean, np.where(std > 0, std, 1.0)


def person_stats(
    frames: np.ndarray, rate: float, rule: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per channel of the frames the rule calls the baseline.

    ``frames`` is one session's frames ``(n, n_channels)`` from its start, at ``rate`` Hz.
    """
    if rule["kind"] == "baseline":
        n = int(round(float(rule["baseline_s"]) * rate))
        if frames.shape[0] < n:
            raise ValueError(
                f"baseline calibration needs {rule['baseline_s']:g} s of data; the session has "
                f"{frames.shape[0] / rate:.0f} s. Record a longer rest period or lower baseline_s"
            )
        ref = frames[:n]
    else:
        ref = frames
    mean = np.nanmean(ref, axis=0)
    std = np.nanstd(ref, axis=0)
    return mean, np.where(std > 0, std, 1.0)


def make_calibration(
    rule: Mapping[str, Any],
    channel_names: Sequence[str],
    global_center: np.ndarray,
    global_scale: np.ndarray,
    person: tuple[np.ndarray, np.ndarray] | None = None,
) -> Calibration:
    """The calibration for one person (or for everyone when the rule's kind is ``none``).

    Parameters
    ----------
    global_center, global_scale
        From the training set (for ``baseline``/``subject``: the spread around people's own
        baselines, see :func:`global_stats`).
    person
        :func:`person_stats` of this person's baseline; required unless the kind is ``none``.
    """
    clip = float(rule.get("clip", CLIP))
    if rule["kind"] == "none":
        return Calibration(np.asarray(global_center, float), np.asarray(global_scale, float), clip)
    if person is None:
        raise ValueError(f"{rule['kind']} calibration needs the person's baseline statistics")
    mean, std = person
    amp = _amplitude_mask(channel_names)
    scale = np.where(amp, std, global_scale)
    return Calibration(np.asarray(mean, float), np.asarray(scale, float), clip)


def calibrate_features(features: np.ndarray, baseline_rows: np.ndarray) -> np.ndarray:
    """Subtract the mean of each feature over a person's baseline windows.

    ``features`` is ``(n_windows, n_features)`` of one person; ``baseline_rows`` a boolean mask
    ``(n_windows,)`` of the windows in the baseline. Without any baseline window the features
    are returned unchanged.
    """
    if not baseline_rows.any():
        return features
    return features - np.nanmean(features[baseline_rows], axis=0)
