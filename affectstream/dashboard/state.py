"""What the dashboard shows, kept per device: the latest record, an hour of history, the last
minute (and a hop) of raw signal. No web code: feeds call :meth:`DashboardState.add_record` and
:meth:`DashboardState.add_raw`; the server reads :meth:`DashboardState.rows` and
:meth:`DashboardState.detail`.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectstream.dashboard.model_info import ModelInfo

log = logging.getLogger("affectstream.dashboard")

#: Seconds of history kept per device for the timeline (window-end times).
HISTORY_S = 3600.0
#: Points per raw channel sent to the page (min/max pairs of bins beyond that).
RAW_POINTS = 1200
#: Records shown in full in the log for each kind of bad input, then only counted.
LOG_FIRST = 5

#: Values of a row's ``state``.
WARMING_UP = "warming up"
CALIBRATED = "calibrated"
ABSTAINING = "abstaining"
NO_RECORD = "no prediction yet"


class RecordError(ValueError):
    """A prediction record that is not the wire contract's; the message says what is wrong."""


def check_record(rec: Any) -> dict[str, Any]:
    """Validate one prediction record (``affectstream/<device>/emotion``'s JSON).

    Raises
    ------
    RecordError
        Naming the key that is missing or mistyped.
    """
    if not isinstance(rec, dict):
        raise RecordError("a prediction record is a JSON object")
    dev = rec.get("device")
    if not isinstance(dev, str) or not 0 < len(dev) <= 64:
        raise RecordError("record lacks 'device' (a string of 1 to 64 characters)")
    t = rec.get("t")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise RecordError(f"record of {dev!r}: 't' (window end, Unix s) must be a number")
    label = rec.get("label")
    if label is not None and not isinstance(label, str):
        raise RecordError(f"record of {dev!r}: 'label' must be a string or null")
    probs = rec.get("probs", {})
    if not isinstance(probs, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in probs.items()
    ):
        raise RecordError(f"record of {dev!r}: 'probs' must map class names to numbers")
    if label is not None and not probs:
        raise RecordError(f"record of {dev!r}: a label without 'probs'")
    q = rec.get("quality", 0.0)
    if isinstance(q, bool) or not isinstance(q, int | float):
        raise RecordError(f"record of {dev!r}: 'quality' must be a number in [0, 1]")
    reason = rec.get("reason")
    if label is None and not isinstance(reason, str):
        raise RecordError(f"record of {dev!r}: an abstention (label null) needs a 'reason'")
    return rec


@dataclass
class RawTrace:
    """The recent chunks of one device's modality, oldest first."""

    channels: tuple[str, ...]
    chunks: deque[tuple[float, float, np.ndarray]] = field(default_factory=deque)

    @property
    def end(self) -> float:
        """Time just after the newest sample, Unix s (nan when empty)."""
        if not self.chunks:
            return math.nan
        t0, fs, x = self.chunks[-1]
        return t0 + len(x) / fs

    def add(self, t0: float, fs: float, samples: np.ndarray, keep_s: float) -> None:
        """Append ``samples`` ``(n, n_channels)`` starting at ``t0`` (s) at ``fs`` (Hz); drop
        chunks that ended more than ``keep_s`` before the newest sample."""
        self.chunks.append((float(t0), float(fs), samples))
        end = self.end
        while self.chunks:
            c0, cfs, cx = self.chunks[0]
            if c0 + len(cx) / cfs >= end - keep_s:
                break
            self.chunks.popleft()

    def series(self, since: float, points: int = RAW_POINTS) -> dict[str, Any]:
        """Samples at or after ``since`` (Unix s): times and per-channel values, thinned to
        about ``points`` per channel by keeping each bin's minimum and maximum (the shape of a
        pulse wave survives); NaN is None."""
        if not self.chunks:
            return {"channels": list(self.channels), "t": [], "values": []}
        ts = np.concatenate([t0 + np.arange(len(x)) / fs for t0, fs, x in self.chunks])
        xs = np.concatenate([x for _, _, x in self.chunks], axis=0)
        keep = ts >= since
        ts, xs = ts[keep], xs[keep]
        if len(ts) > points:
            bins = points // 2
            edges = np.linspace(0, len(ts), bins + 1).astype(int)
            idx: list[int] = []
            for a, b in itertools.pairwise(edges):
                if b <= a:
                    continue
                seg = xs[a:b, 0]
                if np.isnan(seg).all():
                    idx.append(a)
                    continue
                lo, hi = int(np.nanargmin(seg)) + a, int(np.nanargmax(seg)) + a
                idx.extend(sorted({lo, hi}))
            ts, xs = ts[idx], xs[idx]
        values = [
            [None if not math.isfinite(v) else round(float(v), 4) for v in col] for col in xs.T
        ]
        return {
            "channels": list(self.channels),
            "t": [round(float(t), 3) for t in ts],
            "values": values,
        }


@dataclass
class DeviceView:
    """One device as the page shows it."""

    device: str
    last: dict[str, Any] | None = None  #: the latest record (prediction or abstention)
    last_label: dict[str, Any] | None = None  #: the latest record with a label
    warmup_left_s: float | None = None
    predictions: int = 0
    abstentions: int = 0
    last_arrival: float = 0.0  #: time.time() of the last message about it (raw or record)
    version: int = 0  #: the state's version when its record last changed
    seen_version: int = 0  #: the state's version when its raw data last arrived
    newest_t: float = -math.inf  #: the newest window end seen, Unix s
    history: deque[tuple[float, list[float] | None, str | None]] = field(default_factory=deque)
    raw: dict[str, RawTrace] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """:data:`WARMING_UP`, :data:`CALIBRATED`, :data:`ABSTAINING` or :data:`NO_RECORD`."""
        if self.last is None:
            return NO_RECORD
        if self.last.get("label") is not None:
            return CALIBRATED
        if self.last.get("reason") == "calibrating":
            return WARMING_UP
        return ABSTAINING


class DashboardState:
    """Every device's view, with a version counter the server pushes changes by.

    Parameters
    ----------
    info
        The model's classes, window and threshold (what the records are judged against).
    raw_s
        Seconds of raw signal kept per device and modality (default: the model's window and
        one hop, so the window the model saw sits inside it with what came after it).
    """

    def __init__(self, info: ModelInfo, raw_s: float | None = None) -> None:
        self.info = info
        self.raw_s = float(raw_s) if raw_s else info.window_s + info.hop_s
        self.devices: dict[str, DeviceView] = {}
        self.version = 0
        self.counters: Counter[str] = Counter()
        self._listeners: list[Any] = []

    def subscribe(self, callback: Any) -> None:
        """Call ``callback()`` after every change (the server wakes its event streams)."""
        self._listeners.append(callback)

    def unsubscribe(self, callback: Any) -> None:
        """Stop calling ``callback``."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _view(self, device: str) -> DeviceView:
        v = self.devices.get(device)
        if v is None:
            v = self.devices[device] = DeviceView(device)
        return v

    def _changed(self, v: DeviceView) -> None:
        self.version += 1
        v.version = self.version
        v.last_arrival = time.time()
        for cb in list(self._listeners):
            cb()

    def bad(self, kind: str, message: str) -> None:
        """Count (and log the first few of) bad input; never raises."""
        self.counters[kind] += 1
        n = self.counters[kind]
        if n <= LOG_FIRST:
            log.warning("%s: %s", kind, message)
        elif n == LOG_FIRST + 1:
            log.warning("%s: more of these are counted, not logged", kind)

    def add_record(self, rec: Mapping[str, Any]) -> bool:
        """Take one prediction, abstention or ``calibrating`` record; False (counted as
        ``bad_records``) when it is not the wire contract's."""
        try:
            check_record(rec)
        except RecordError as exc:
            self.bad("bad_records", str(exc))
            return False
        self.counters["records"] += 1
        v = self._view(rec["device"])
        v.last = dict(rec)
        t = float(rec["t"])
        if rec.get("label") is not None:
            v.last_label = v.last
            v.predictions += 1
            v.warmup_left_s = None
            probs = [float(rec["probs"].get(c, math.nan)) for c in self.info.classes]
            v.history.append((t, probs, None))
        else:
            if rec.get("reason") == "calibrating":
                left = rec.get("warmup_left_s")
                v.warmup_left_s = float(left) if isinstance(left, int | float) else None
            else:
                v.abstentions += 1
            v.history.append((t, None, str(rec.get("reason"))))
        v.newest_t = max(v.newest_t, t)
        while v.history and v.history[0][0] < v.newest_t - HISTORY_S:
            v.history.popleft()
        self._changed(v)
        return True

    def add_raw(
        self,
        device: str,
        modality: str,
        t0: float,
        fs: float,
        samples: np.ndarray,
        channels: tuple[str, ...] | list[str] = (),
    ) -> None:
        """Take one raw chunk: ``samples`` ``(n, n_channels)`` (NaN missing) from ``t0``
        (Unix s) at ``fs`` (Hz)."""
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if fs <= 0 or not len(x):
            self.bad("bad_raw", f"{device}/{modality}: empty chunk or rate {fs} Hz")
            return
        self.counters["raw_chunks"] += 1
        v = self._view(device)
        tr = v.raw.get(modality)
        if tr is None or tr.channels != tuple(channels or (modality,)):
            tr = v.raw[modality] = RawTrace(tuple(channels or (modality,)))
        tr.add(t0, fs, x, self.raw_s)
        v.last_arrival = time.time()
        self.version += 1
        v.seen_version = self.version
        if v.version == 0:  # a device known from its raw data only: give it a row
            v.version = self.version
        for cb in list(self._listeners):
            cb()

    def row(self, v: DeviceView) -> dict[str, Any]:
        """The device's table row, JSON-ready."""
        last = v.last or {}
        shown = v.last_label or {}
        return {
            "device": v.device,
            "state": v.state,
            "reason": last.get("reason") if v.state == ABSTAINING else None,
            "warmup_left_s": v.warmup_left_s if v.state == WARMING_UP else None,
            "label": last.get("label"),
            "probs": shown.get("probs") or {},
            "probs_t": shown.get("t"),
            "quality": last.get("quality"),
            "t": last.get("t"),
            "model": last.get("model"),
            "predictions": v.predictions,
            "abstentions": v.abstentions,
            "last_arrival": round(v.last_arrival, 3),
            "version": v.version,
        }

    def rows(self, since_version: int = 0) -> list[dict[str, Any]]:
        """Rows of the devices changed after ``since_version`` (all by default), by device."""
        return [self.row(v) for _, v in sorted(self.devices.items()) if v.version > since_version]

    def arrivals(self, since_version: int = 0) -> dict[str, float]:
        """``device -> last_arrival`` (time.time(), s) of devices whose raw data arrived after
        ``since_version`` with no new record (their rows are unchanged but for the age)."""
        return {
            d: round(v.last_arrival, 3)
            for d, v in self.devices.items()
            if v.seen_version > since_version and v.version <= since_version
        }

    def detail(self, device: str) -> dict[str, Any] | None:
        """A device's timeline (the last hour), raw signals and the model's last window; None
        for a device never seen."""
        v = self.devices.get(device)
        if v is None:
            return None
        ends = [tr.end for tr in v.raw.values() if tr.chunks]
        raw_end = max(ends) if ends else None
        since = (raw_end - self.raw_s) if raw_end is not None else math.inf
        window = None
        if v.last_label is not None or (v.last and v.last.get("reason") != "calibrating"):
            t_end = float((v.last or {}).get("t", 0.0))
            window = [t_end - self.info.window_s, t_end]
        return {
            "row": self.row(v),
            "history": [{"t": round(t, 3), "probs": p, "reason": r} for t, p, r in v.history],
            "raw": {m: tr.series(since) for m, tr in sorted(v.raw.items())},
            "raw_end": raw_end,
            "raw_s": self.raw_s,
            "window": window,
        }

    def meta(self) -> dict[str, Any]:
        """The model facts and the server's clock, for the page."""
        return {
            "model": self.info.to_json(),
            "server_time": time.time(),
            "history_s": HISTORY_S,
            "raw_s": self.raw_s,
            "counters": dict(self.counters),
        }
