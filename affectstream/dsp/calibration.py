"""Normalisation of model input, globally or from a person's own baseline.

One rule, used by training and by the live monitor alike:

- ``{"kind": "none"}``: every channel is centred and scaled with statistics of the training set;
- ``{"kind": "baseline", "baseline_s": 300}``: every channel is centred on the person's own mean
  over the first ``baseline_s`` seconds of the session (a resting period); amplitude channels
  (ECG, BVP, RESP) are also scaled by the person's baseline standard deviation, level channels
  (EDA, TEMP) by the training set's spread, so a person with a calm baseline is not blown up;
- ``{"kind": "running", "min_s": 300}``: every channel is centred on the person's mean and
  scaled by the person's standard deviation over the session so far (every frame from the
  session's first to the window's end, :class:`RunningStats`); the first ``min_s`` seconds only
  fill the statistics (the monitor answers "calibrating"). Causal, so the live monitor can use it;
- ``{"kind": "rest", "labels": ["calmness"], "baseline_s": 300}``: as ``baseline``, with the
  person's rest periods so far: the first ``baseline_s`` seconds plus every interval labelled
  with one of ``labels`` that ended before the window starts (:func:`rest_available_from`,
  :func:`stats_available_at`). Causal,
  but it needs the person's rest periods marked, so it is a training/analysis rule for now;
- ``{"kind": "subject"}``: as ``baseline``, with statistics over all of the person's data (an
  enrolment recording, or the whole session): offline only.

With ``"centre_output": true`` (any kind; the training default with ``running``) the model's
output is calibrated to the person too (:class:`OutputCentring`): each class's log-probability is
centred on its mean over the person's predicted windows so far, this one included, so a person
whose every window the model scores high is judged against their own level. Causal, so the live
monitor applies it per device exactly as training evaluates it.

Features follow the same rule (``model.calibrated.calibrated_features``): the baseline mean of each
feature is subtracted (``baseline``), or each feature is z-scored with the person's statistics of
that feature over the session so far (``running``: every window's features from the session's
first window on, clipped to +-``clip``), over the rest periods so far (``rest``: windows that lie
wholly inside them) or over the whole session (``subject``). Models that take
features as input (``model.feature_input``) are served with ``running`` calibration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("none", "baseline", "running", "rest", "subject", "anchored")

#: Default warm-up of running calibration and length of the baseline (seconds).
DEFAULT_BASELINE_S = 300.0

#: Normalised values are clipped to +-CLIP (in units of the scale): artefacts cannot dominate a
#: window, and the int8 input keeps a fine step (8 / 255 of a unit).
CLIP = 4.0

#: Probabilities are floored here before :class:`OutputCentring` takes their logarithm: an int8
#: softmax output is often exactly 0 (a step is 1/256), and one such window must not pull the
#: person's mean to -inf, nor one int8 step near 0 move it far (at most log(1 + 0.2) here). On
#: the Stress-Predict folds any floor from 1e-6 to 0.1 scores the same to 0.002.
PROB_FLOOR = 0.02

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
    if kind in ("baseline", "rest"):
        b = float(r.setdefault("baseline_s", DEFAULT_BASELINE_S))
        if not b > 0:
            raise ValueError(f"calibration baseline_s must be a positive duration; got {b}")
    if kind in ("running", "anchored"):
        b = float(r.setdefault("min_s", DEFAULT_BASELINE_S))
        if not b >= 0:
            raise ValueError(f"calibration min_s must be a duration >= 0 seconds; got {b}")
    if kind == "anchored":
        s = float(r.setdefault("settle_s", 120.0))
        if not 0 <= s < b:
            raise ValueError(
                f"anchored calibration needs 0 <= settle_s < min_s; got {s:g} and {b:g} s"
            )
    centre = r.setdefault("centre_output", False)
    if not isinstance(centre, bool):
        raise ValueError(f"calibration centre_output must be true or false; got {centre!r}")
    if r.get("output") is not None:
        out = dict(r["output"])
        if out.get("kind") != "offset" or not isinstance(out.get("class"), str):
            raise ValueError(
                "calibration output must be {kind = 'offset', class = '<rest class>', "
                f"log_offset = <number>}}; got {r['output']!r}"
            )
        out["log_offset"] = float(out.get("log_offset", 0.0))
        if not np.isfinite(out["log_offset"]):
            raise ValueError(f"calibration output log_offset must be finite; got {out!r}")
        if centre:
            raise ValueError(
                "calibration has both centre_output and an output offset; use one of them"
            )
        r["output"] = out
    if kind == "rest":
        labels = r.get("labels")
        if (
            not isinstance(labels, list | tuple)
            or not labels
            or not all(isinstance(x, str) for x in labels)
        ):
            raise ValueError(
                "calibration kind 'rest' needs labels = [...], the label names of the person's "
                f"rest periods (e.g. ['calmness'] or ['non-stress']); got {labels!r}"
            )
        r["labels"] = list(labels)
    return r


def warmup_s(rule: Mapping[str, Any]) -> float:
    """Seconds of a session the rule needs before its first calibrated window (0 if none)."""
    if rule["kind"] in ("baseline", "rest"):
        return float(rule["baseline_s"])
    if rule["kind"] in ("running", "anchored"):
        return float(rule["min_s"])
    return 0.0


class RunningStats:
    """Mean and standard deviation per column of every row seen so far; NaN entries skipped.

    The running calibration's statistics: the live monitor updates it with each device's frames,
    training and offline prediction with the same frames in the same order, so all three
    normalise a window identically. Sums are float64: an hour of 32 Hz frames loses nothing.
    """

    def __init__(self, n_columns: int) -> None:
        self.count = np.zeros(n_columns)
        self.total = np.zeros(n_columns)
        self.total_sq = np.zeros(n_columns)

    def update(self, rows: np.ndarray) -> None:
        """Add rows ``(n, n_columns)`` (or one row ``(n_columns,)``)."""
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim == 1:  # one row (a window's features): the same sums, fewer calls
            ok = np.isfinite(x)
            x = np.where(ok, x, 0.0)
            self.count += ok
            self.total += x
            self.total_sq += x * x
            return
        ok = np.isfinite(x)
        x = np.where(ok, x, 0.0)
        self.count += ok.sum(axis=0)
        self.total += x.sum(axis=0)
        self.total_sq += np.einsum("ij,ij->j", x, x)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation per column, shape ``(n_columns,)`` each; a column with no
        data has mean 0, and a column without spread std 1 (it is then only centred)."""
        return _mean_std(self.count, self.total, self.total_sq)

    def state_dict(self) -> dict[str, Any]:
        """The sums, shape ``(n_columns,)`` each."""
        return {"count": self.count.copy(), "total": self.total.copy(), "sq": self.total_sq.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` with the same number of columns."""
        n = self.count.shape[0]
        arrs = [
            np.asarray(state[k], dtype=np.float64).reshape(-1) for k in ("count", "total", "sq")
        ]
        if any(a.shape != (n,) for a in arrs):
            raise ValueError(
                f"running statistics state has {arrs[0].shape[0]} columns; these have {n}"
            )
        self.count, self.total, self.total_sq = arrs


def floored_log(probs: np.ndarray) -> np.ndarray:
    """Log-probabilities with the probabilities floored at :data:`PROB_FLOOR` (any shape)."""
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), PROB_FLOOR))


class OutputCentring:
    """Per-person centring of a model's class probabilities, one instance per session/device.

    Each window's log-probabilities (floored at :data:`PROB_FLOOR`) have their mean over the
    person's predicted windows so far (this one included) subtracted, and are renormalised with a
    softmax. For two classes this is the log-odds minus its running mean: a window is called
    stress when it scores above the person's average so far. Windows must be given in time
    order; abstentions (NaN rows) pass through and do not count.
    """

    def __init__(self, n_classes: int) -> None:
        self.stats = RunningStats(n_classes)

    def state_dict(self) -> dict[str, Any]:
        """The person's log-probability sums so far."""
        return self.stats.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the person's centring from a :meth:`state_dict`."""
        self.stats.load_state_dict(state)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Centre rows ``(n, n_classes)`` (or one row ``(n_classes,)``) in time order, updating
        the person's mean; returns probabilities of the same shape."""
        p = np.asarray(probs, dtype=np.float64)
        rows = np.atleast_2d(p)
        ok = np.isfinite(rows).all(axis=1)
        logp = floored_log(rows[ok])
        count = self.stats.count[0] + np.arange(1, len(logp) + 1)[:, None]
        mean = (self.stats.total + np.cumsum(logp, axis=0)) / count
        self.stats.update(logp)
        z = logp - mean
        z = np.exp(z - z.max(axis=1, keepdims=True))
        out = rows.copy()
        out[ok] = z / z.sum(axis=1, keepdims=True)
        return out.reshape(p.shape)


class OutputOffset:
    """A fixed operating point: ``log_offset`` added to one class's log-probability (floored at
    :data:`PROB_FLOOR`), then renormalised. For two classes this moves the decision threshold:
    the other class is called when its odds ``p / (1 - p)`` exceed ``exp(log_offset)``, i.e.
    its probability exceeds ``1 / (1 + exp(-log_offset))``. Training chooses the offset so
    that a set share of the training people's calm windows (the target false-alarm rate) is
    called otherwise (:func:`offset_for_false_alarms`). Stateless: the same for every person.
    """

    def __init__(self, class_index: int, log_offset: float) -> None:
        self.class_index = int(class_index)
        self.log_offset = float(log_offset)

    def state_dict(self) -> dict[str, Any]:
        """Nothing: the offset is the bundle's, the same for every person."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Stateless: nothing to restore."""

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Rows ``(n, n_classes)`` or one row; NaN rows (abstentions) pass through."""
        p = np.asarray(probs, dtype=np.float64)
        rows = np.atleast_2d(p)
        ok = np.isfinite(rows).all(axis=1)
        logp = floored_log(rows[ok])
        logp[:, self.class_index] += self.log_offset
        z = np.exp(logp - logp.max(axis=1, keepdims=True))
        out = rows.copy()
        out[ok] = z / z.sum(axis=1, keepdims=True)
        return out.reshape(p.shape)


def offset_for_false_alarms(calm_probs: np.ndarray, class_index: int, rate: float) -> float:
    """The :class:`OutputOffset` log offset under which a fraction ``rate`` of the calm windows
    ``calm_probs`` ``(n, n_classes)`` (true class ``class_index``) is called another class.

    A window is called calm when its calm log-probability plus the offset beats every other
    class's; the offset is the ``1 - rate`` quantile of what each window needs. Returns 0 for
    no windows.
    """
    if not 0 < rate < 1:
        raise ValueError(f"false-alarm rate must be a fraction in (0, 1); got {rate}")
    p = np.asarray(calm_probs, dtype=np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    if not len(p):
        return 0.0
    logp = floored_log(p)
    others = np.delete(logp, class_index, axis=1).max(axis=1)
    need = others - logp[:, class_index]
    return float(np.quantile(need, 1.0 - rate))


def centre_outputs(probs: np.ndarray, sessions: np.ndarray, order: np.ndarray) -> np.ndarray:
    """:class:`OutputCentring` over many sessions at once (training's held-out predictions).

    ``probs`` ``(n, n_classes)``, ``sessions`` ``(n,)`` (a key per person's session),
    ``order`` ``(n,)`` (time within the session, e.g. the window end). Each session's rows are
    centred in time order with a fresh :class:`OutputCentring`; returns ``(n, n_classes)``.
    """
    out = np.empty_like(np.asarray(probs, dtype=np.float64))
    for s in np.unique(sessions):
        idx = np.flatnonzero(sessions == s)
        idx = idx[np.argsort(order[idx], kind="stable")]
        out[idx] = OutputCentring(out.shape[1]).apply(probs[idx])
    return out


def _mean_std(
    count: np.ndarray, total: np.ndarray, total_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std from counts, sums and sums of squares (any shape, elementwise): no data
    gives mean 0, no spread std 1."""
    n = np.maximum(count, 1.0)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
    return mean, np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)


def rest_available_from(
    start: np.ndarray,
    end: np.ndarray,
    baseline_end: float,
    intervals: Sequence[tuple[float, float]],
) -> np.ndarray:
    """When each span joins the ``rest`` rule's reference (seconds, the spans' clock).

    A span ``[start, end)`` (a frame, or a window) inside the baseline (``end <= baseline_end``)
    counts from the start (the baseline is rest by protocol, as for ``baseline``); one that lies
    wholly inside a rest interval ``(a, b)`` counts once that interval has ended (``b``); any
    other never (``inf``). Shapes ``(n,)``.
    """
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    avail = np.where(end <= baseline_end + 1e-9, -np.inf, np.inf)
    for a, b in intervals:
        inside = (start >= a - 1e-9) & (end <= b + 1e-9)
        avail = np.where(inside, np.minimum(avail, b), avail)
    return avail


def stats_available_at(
    values: np.ndarray, available_from: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per column of the rows available at each time in ``at``.

    ``values`` ``(n, n_columns)`` (NaN skipped), ``available_from`` ``(n,)`` from
    :func:`rest_available_from`, ``at`` ``(m,)`` (a window's start); returns two
    ``(m, n_columns)`` arrays, with :class:`RunningStats`' conventions (no data: mean 0, std 1).
    """
    order = np.argsort(available_from, kind="stable")
    x = np.asarray(values, dtype=np.float64)[order]
    ok = np.isfinite(x)
    x = np.where(ok, x, 0.0)
    zero = np.zeros((1, x.shape[1]))
    cnt = np.concatenate([zero, np.cumsum(ok, axis=0)])
    tot = np.concatenate([zero, np.cumsum(x, axis=0)])
    tot_sq = np.concatenate([zero, np.cumsum(x * x, axis=0)])
    k = np.searchsorted(available_from[order], np.asarray(at, dtype=np.float64), side="right")
    return _mean_std(cnt[k], tot[k], tot_sq[k])


@dataclass(frozen=True)
class Calibration:
    """Per-channel centre and scale: ``clip((x - centre) / scale)``, shape ``(n_channels,)``."""

    centre: np.ndarray
    scale: np.ndarray
    clip: float = CLIP
    #: normalised value put in place of a missing (NaN) entry, per column; None: 0, the centre
    fill: np.ndarray | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Normalise rows ``(..., n_columns)`` (frames, or window features); a missing entry
        becomes ``fill`` (default 0, the centre)."""
        z = (x - self.centre) / self.scale
        if self.fill is not None:
            z = np.where(np.isnan(z), self.fill, z)
        z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        out: np.ndarray = np.clip(z, -self.clip, self.clip, out=z)
        return out


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

    ``frames`` is one session's frames ``(n, n_channels)`` from its start, at ``rate`` Hz. For
    ``rest`` this is its reference until the first rest interval ends: the baseline.
    """
    if rule["kind"] in ("baseline", "rest"):
        n = int(round(float(rule["baseline_s"]) * rate))
        if frames.shape[0] < n:
            raise ValueError(
                f"{rule['kind']} calibration needs {rule['baseline_s']:g} s of data; the session "
                f"has {frames.shape[0] / rate:.0f} s. Record a longer rest period or lower "
                "baseline_s"
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
    global_centre: np.ndarray,
    global_scale: np.ndarray,
    person: tuple[np.ndarray, np.ndarray] | None = None,
) -> Calibration:
    """The calibration for one person (or for everyone when the rule's kind is ``none``).

    Parameters
    ----------
    global_centre, global_scale
        From the training set (for ``baseline``/``subject``: the spread around people's own
        baselines, see :func:`global_stats`).
    person
        :func:`person_stats` of this person's baseline (``RunningStats.stats()`` for
        ``running``); required unless the kind is ``none``.
    """
    clip = float(rule.get("clip", CLIP))
    if rule["kind"] == "none":
        return Calibration(np.asarray(global_centre, float), np.asarray(global_scale, float), clip)
    if person is None:
        raise ValueError(f"{rule['kind']} calibration needs the person's baseline statistics")
    mean, std = person
    if rule["kind"] == "running":  # the person's own spread, every channel
        return Calibration(np.asarray(mean, float), np.asarray(std, float), clip)
    amp = _amplitude_mask(channel_names)
    scale = np.where(amp, std, global_scale)
    return Calibration(np.asarray(mean, float), np.asarray(scale, float), clip)
