"""Sessions re-cut to another mix of states: a calm day and a stress-heavy day.

A per-person calibration that centres a person on what they did so far, or a threshold at
their mean output, works only when every session mixes states in the protocol's proportions.
These re-cuts check a rule against other mixes, on the test people's own recordings:

- :func:`calm_day`: every non-rest period and the ``after_s`` seconds after it cut out; the rest
  periods stay on their own clock with the cuts as gaps (no sample there), as a person who
  stayed calm all session would be recorded;
- :func:`stress_heavy`: every rest period cut down to its first ``rest_fraction``, the rest of it
  a gap; every stress period kept whole.

Both return a :class:`~affectstream.data.Recording` that goes through the same windowing,
calibration and model as any other, so a rule meets the new mix from the session's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from affectstream.data import Recording
from affectstream.data.recording import LabelInterval, Signal

#: Seconds after each stress period that a calm day also leaves out (physiology still aroused).
CALM_DAY_AFTER_S = 120.0

#: Share of each rest period a stress-heavy session keeps.
STRESS_HEAVY_REST_FRACTION = 1.0 / 3.0


def _merge(cuts: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(c for c in cuts if c[1] > c[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def cut_out(rec: Recording, cuts: Iterable[tuple[float, float]], tag: str) -> Recording:
    """``rec`` without any sample or label time inside the ``cuts`` ``[a, b)`` (seconds, the
    recording's clock). Signals keep their own times (explicit timestamps); labels are split
    around the cuts; the session id gains ``tag``."""
    spans = _merge(cuts)
    signals = {}
    for name, s in rec.signals.items():
        t = s.times()
        keep = np.ones(t.size, dtype=bool)
        for a, b in spans:
            keep &= ~((t >= a) & (t < b))
        ts = t[keep]
        start = float(ts[0]) if ts.size else s.start_time
        signals[name] = Signal(s.data[keep], s.fs, start, s.channels, ts, s.unit)
    labels: list[LabelInterval] = []
    for iv in rec.labels:
        pieces = [(iv.start, iv.end)]
        for a, b in spans:
            pieces = [
                p for lo, hi in pieces for p in ((lo, min(hi, a)), (max(lo, b), hi)) if p[1] > p[0]
            ]
        labels += [LabelInterval(iv.label, lo, hi) for lo, hi in pieces]
    return Recording(
        signals,
        rec.subject,
        f"{rec.session}:{tag}",
        labels,
        rec.source,
        {**rec.meta, "recut": tag},
    )


def calm_day(
    rec: Recording, rest_labels: Sequence[str], after_s: float = CALM_DAY_AFTER_S
) -> Recording:
    """``rec`` as a calm day: every period not labelled one of ``rest_labels`` (and unlabelled
    time between labels is kept) plus the ``after_s`` seconds after it cut out."""
    rest = set(rest_labels)
    cuts = [(iv.start, iv.end + after_s) for iv in rec.labels if iv.label not in rest]
    return cut_out(rec, cuts, "calm-day")


def stress_heavy(
    rec: Recording, rest_labels: Sequence[str], rest_fraction: float = STRESS_HEAVY_REST_FRACTION
) -> Recording:
    """``rec`` as a stress-heavy session: each rest period (labelled one of ``rest_labels``)
    cut down to its first ``rest_fraction``; every other period kept."""
    if not 0 < rest_fraction <= 1:
        raise ValueError(f"rest_fraction must be in (0, 1]; got {rest_fraction}")
    rest = set(rest_labels)
    cuts = [
        (iv.start + rest_fraction * iv.duration, iv.end) for iv in rec.labels if iv.label in rest
    ]
    return cut_out(rec, cuts, "stress-heavy")
