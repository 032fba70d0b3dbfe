"""The monitor core: devices in, prediction records out, inference batched across devices."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.model.predictor import Predictor
from affectstream.stream.device import DeviceState, PendingWindow
from affectstream.stream.records import make_record


class Monitor:
    """Holds every device's state and turns completed windows into prediction records.

    Synchronous and I/O-free: sources call :meth:`push`, the caller hands the records it returns
    to sinks. The asyncio daemon wraps it.

    Parameters
    ----------
    model
        A :class:`Predictor`, a bundle path or ``"default"``.
    hop_s
        Seconds between predictions (default: the bundle's).
    max_missing
        Largest fraction of missing frames in a window that still gets a prediction (default:
        the bundle's, what training left out).
    batch
        When True, :meth:`push` only queues windows; :meth:`flush` predicts all queued windows
        of all devices in one batch (one inference call per hop for many devices).
    warmup_every_s
        When given, a device still warming up (its calibration baseline, or its first window,
        not complete) gets a ``calibrating`` record (``label`` None, ``reason``
        ``"calibrating"``, ``warmup_left_s``) at its first data and then at most once per this
        many seconds of its data; None sends none.
    """

    def __init__(
        self,
        model: Predictor | str | Path = "default",
        *,
        hop_s: float | None = None,
        max_missing: float | None = None,
        batch: bool = False,
        warmup_every_s: float | None = None,
    ) -> None:
        self.predictor = model if isinstance(model, Predictor) else Predictor(model)
        self.hop_s = hop_s
        self.max_missing = max_missing
        self.batch = batch
        self.devices: dict[str, DeviceState] = {}
        self._pending: list[PendingWindow] = []
        self._seq: dict[str, int] = {}
        self.predictions_out = 0
        self.warmup_every_s = warmup_every_s
        self._warm_last: dict[str, float] = {}
        self._warm_records: list[dict[str, Any]] = []

    @property
    def modalities(self) -> list[str]:
        """Modalities the model needs."""
        return [m["name"] for m in self.predictor.metadata["preprocess"]["modalities"]]

    def expected_rate(self, modality: str) -> float:
        """The sampling rate (Hz) the model's preprocessing was built for."""
        for m in self.predictor.metadata["preprocess"]["modalities"]:
            if m["name"] == modality:
                return float(m["fs"])
        raise ValueError(
            f"the model does not use modality {modality!r}; it uses {', '.join(self.modalities)}"
        )

    def device(self, device_id: str) -> DeviceState:
        """The state of ``device_id``, created on first use."""
        st = self.devices.get(device_id)
        if st is None:
            st = self.devices[device_id] = DeviceState(
                device_id, self.predictor, self.hop_s, self.max_missing
            )
            self._seq[device_id] = 0
        return st

    def forget(self, device_id: str) -> None:
        """Drop a device's state (it vanished; a return starts afresh)."""
        self.devices.pop(device_id, None)
        self._warm_last.pop(device_id, None)

    def push(
        self,
        device_id: str,
        modality: str,
        samples: np.ndarray,
        *,
        start_time: float | None = None,
        timestamps: np.ndarray | None = None,
        received: float | None = None,
    ) -> list[dict[str, Any]]:
        """Feed one chunk of one device's modality; return the records it produced."""
        st = self.device(device_id)
        wins = st.push(
            modality, samples, start_time=start_time, timestamps=timestamps, received=received
        )
        self._pending.extend(wins)
        self._warmup(st, received)
        return [] if self.batch else self.flush()

    def push_many(
        self,
        device_id: str,
        chunks: Mapping[str, np.ndarray],
        *,
        start_times: Mapping[str, float] | None = None,
        received: float | None = None,
    ) -> list[dict[str, Any]]:
        """Feed one chunk of several modalities of one device."""
        st = self.device(device_id)
        wins = st.push_many(chunks, start_times=start_times, received=received)
        self._pending.extend(wins)
        self._warmup(st, received)
        return [] if self.batch else self.flush()

    def _warmup(self, st: DeviceState, received: float | None) -> None:
        """Queue a ``calibrating`` record for a device still warming up (rate-limited)."""
        warm = None if self.warmup_every_s is None else st.session.warmup()
        if warm is None:
            return
        t, left_s = warm
        last = self._warm_last.get(st.device)
        if last is not None and t - last < self.warmup_every_s:
            return
        self._warm_last[st.device] = t
        w = PendingWindow(
            st.device,
            t,
            None,
            0.0,
            "calibrating",
            time.perf_counter() if received is None else received,
        )
        seq = self._seq.get(st.device, 0)
        self._seq[st.device] = seq + 1
        pr = self.predictor
        rec = make_record(w, None, pr.classes, pr.model_id, seq)
        rec["warmup_left_s"] = round(left_s, 3)
        self._warm_records.append(rec)

    def flush(self) -> list[dict[str, Any]]:
        """Predict every queued window in one batch; return their records in arrival order."""
        warm, self._warm_records = self._warm_records, []
        if not self._pending:
            return warm
        pend, self._pending = self._pending, []
        xs = [w.x for w in pend if w.x is not None]
        probs = self.predictor.predict(np.stack(xs)) if xs else np.empty((0, 0))
        out, j = warm, 0
        pr = self.predictor
        for w in pend:
            p = None
            if w.x is not None:
                p, j = probs[j], j + 1
                if w.outputs is not None:  # the device's windows come in time order
                    p = w.outputs.apply(p)
            seq = self._seq.get(w.device, 0)
            self._seq[w.device] = seq + 1
            out.append(make_record(w, p, pr.classes, pr.model_id, seq))
        self.predictions_out += len(out) - len(warm)
        return out

    def status(self) -> dict[str, Any]:
        """Counters of every device."""
        return {
            "devices": {d: s.status() for d, s in self.devices.items()},
            "predictions_out": self.predictions_out,
        }
