"""Per-person calibration of window features: typed rules and the one per-session calibrator.

A feature model sees each window's :func:`~affectstream.dsp.features.window_features` scaled to
the person. The rule says how; a :class:`FeatureCalibrator` holds one person's session state and
is fed every window on the hop schedule, in time order, by the live monitor (one per device),
by offline prediction (one per recording) and by training (:func:`replay`, one per session), so
the three compute the same values by construction.

Rules (``kind``):

- ``running``: each feature z-scored with the mean and standard deviation of that feature over
  every window of the session so far. It centres the person on everything they did, so it
  assumes every session mixes states in the protocol's proportions: a person who stays calm has
  about half of their windows above their own centre (the prevalence checks of
  ``affectstream train`` show it).
- ``anchored``: each feature centred on the person's own calm reference, the mean of the windows
  that end between ``settle_s`` and ``min_s`` seconds into the session (the opening rest, after
  the sensor has settled on the skin: EDA and skin temperature drift for minutes after the
  wristband goes on), and scaled by the feature's spread over the session so far. The centre
  does not move with what the person does later, so a calm day is judged against calm.

Both answer nothing before ``min_s`` seconds (the warm-up: the monitor says ``calibrating``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from affectstream.dsp.calibration import CLIP, DEFAULT_BASELINE_S, RunningStats

#: Feature calibration kinds.
FEATURE_KINDS = ("running", "anchored")

#: Default for ``anchored``: windows ending before this (seconds) are not part of the reference.
DEFAULT_SETTLE_S = 120.0


@dataclass(frozen=True)
class FeatureRule:
    """How a feature model's input is scaled to the person (see the module docstring).

    Parameters
    ----------
    kind
        ``"running"`` or ``"anchored"``.
    min_s
        Warm-up in seconds: windows ending earlier only feed the statistics. For ``anchored``
        also the end of the reference period.
    settle_s
        ``anchored`` only: the reference period starts here (seconds into the session).
    clip
        Scaled values are clipped to +-``clip`` spread units.
    """

    kind: str = "anchored"
    min_s: float = DEFAULT_BASELINE_S
    settle_s: float = DEFAULT_SETTLE_S
    clip: float = CLIP

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(
                f"feature calibration kind {self.kind!r} is unknown; use one of "
                f"{', '.join(FEATURE_KINDS)}"
            )
        if not self.min_s >= 0:
            raise ValueError(f"calibration min_s must be >= 0 seconds; got {self.min_s}")
        if not self.clip > 0:
            raise ValueError(f"calibration clip must be positive; got {self.clip}")
        if self.kind == "anchored" and not 0 <= self.settle_s < self.min_s:
            raise ValueError(
                f"anchored calibration needs 0 <= settle_s < min_s; got settle_s = "
                f"{self.settle_s:g} s, min_s = {self.min_s:g} s: the reference period is the "
                "seconds between them"
            )

    @property
    def name(self) -> str:
        """Short readable name, e.g. ``anchored 120-300 s``."""
        if self.kind == "anchored":
            return f"anchored {self.settle_s:g}-{self.min_s:g} s"
        return f"running (warm-up {self.min_s:g} s)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the bundle's ``calibration`` keys)."""
        d = asdict(self)
        if self.kind != "anchored":
            d.pop("settle_s")
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureRule:
        """From a bundle's or a config's calibration mapping (other keys are ignored: a bundle's
        calibration also holds the output step and training statistics)."""
        kind = d.get("kind", "anchored")
        if kind not in FEATURE_KINDS:
            raise ValueError(
                f"a feature model needs calibration kind {' or '.join(FEATURE_KINDS)}; got "
                f"{kind!r}: retrain with one of them"
            )
        return cls(
            kind=kind,
            min_s=float(d.get("min_s", DEFAULT_BASELINE_S)),
            settle_s=float(d.get("settle_s", DEFAULT_SETTLE_S)),
            clip=float(d.get("clip", CLIP)),
        )

    def calibrator(self, n_features: int) -> FeatureCalibrator:
        """A fresh per-session calibrator."""
        return FeatureCalibrator(self, n_features)


class FeatureCalibrator:
    """One person's session under a :class:`FeatureRule`.

    Feed every window on the hop schedule in time order with :meth:`partial_fit` (abstained
    windows too: their finite features count), then :meth:`transform` it; :meth:`step` does
    both. ``t_end`` is the window's end in seconds since the session's first frame.
    """

    def __init__(self, rule: FeatureRule, n_features: int) -> None:
        self.rule = rule
        self.running = RunningStats(n_features)
        self.reference = RunningStats(n_features)
        self.t_end = float("-inf")
        self._ref_mean: np.ndarray | None = None  # the reference's mean, once it stops changing

    def state_dict(self) -> dict[str, Any]:
        """The person's statistics so far and the last window's end (seconds)."""
        return {
            "running": self.running.state_dict(),
            "reference": self.reference.state_dict(),
            "t_end": self.t_end,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the person's calibration from a :meth:`state_dict` (same rule and
        features)."""
        self.running.load_state_dict(state["running"])
        self.reference.load_state_dict(state["reference"])
        self.t_end = float(state["t_end"])
        self._ref_mean = None  # recomputed from the restored reference

    def partial_fit(self, features: np.ndarray, t_end: float) -> FeatureCalibrator:
        """Add one window's features ``(n_features,)`` (NaN: unknown, skipped)."""
        if t_end < self.t_end:
            raise ValueError(
                f"windows must come in time order; got one ending at {t_end:g} s after one "
                f"ending at {self.t_end:g} s"
            )
        self.t_end = float(t_end)
        self.running.update(features)
        r = self.rule
        if r.kind == "anchored" and r.settle_s - 1e-9 <= t_end <= r.min_s + 1e-9:
            self.reference.update(features)
            self._ref_mean = None
        return self

    @property
    def ready(self) -> bool:
        """True once the warm-up is over (the last window ended at or after ``min_s``)."""
        return self.t_end >= self.rule.min_s - 1e-9

    def centre_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """The current centre and spread per feature, shape ``(n_features,)`` each. For
        ``anchored``, a feature with no finite value in the reference period is centred on its
        mean so far."""
        mean, std = self.running.stats()
        if self.rule.kind == "running":
            return mean, std
        ref = self._ref_mean
        if ref is None:
            ref_mean, _ = self.reference.stats()
            ref = np.where(self.reference.count > 0, ref_mean, np.nan)
            if self.t_end > self.rule.min_s + 1e-9:  # the reference period is over
                self._ref_mean = ref
        return np.where(np.isnan(ref), mean, ref), std

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Scaled features, clipped to +-clip; NaN stays NaN (the model's fill value replaces
        it). Shape as given, ``(n_features,)`` or ``(n, n_features)``."""
        centre, scale = self.centre_scale()
        z: np.ndarray = (np.asarray(features, dtype=np.float64) - centre) / scale
        return np.clip(z, -self.rule.clip, self.rule.clip, out=z)

    def step(self, features: np.ndarray, t_end: float) -> np.ndarray:
        """:meth:`partial_fit` then :meth:`transform` of the same window."""
        return self.partial_fit(features, t_end).transform(features)


def replay(rule: FeatureRule, features: np.ndarray, t_end: np.ndarray) -> np.ndarray:
    """Every window of one session through a fresh calibrator, in order: what the monitor
    computes for each. ``features`` ``(n, n_features)``, ``t_end`` ``(n,)`` seconds since the
    session's first frame (increasing); returns ``(n, n_features)``."""
    cal = rule.calibrator(features.shape[1])
    out = np.empty_like(np.asarray(features, dtype=np.float64))
    for i in range(len(out)):
        out[i] = cal.step(features[i], float(t_end[i]))
    return out
