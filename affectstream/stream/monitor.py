"""The monitor core: devices in, prediction records out, inference batched across devices."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.model.predictor import Predictor
from affectstream.stream.device import DeviceState, PendingWindow
from affectstream.stream.device_store import DeviceStore
from affectstream.stream.records import PredictionRecord, make_record

log = logging.getLogger("affectstream.daemon")

#: A saved device state is resumed when the device's new data starts at most this many seconds
#: (its own clock) after the saved session's last frame; later data starts a new session.
DEFAULT_RESUME_WITHIN_S = 900.0


class DeviceLimitError(ValueError):
    """A new device arrived while the monitor already holds ``max_devices`` devices."""


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
    max_devices
        Most devices held at once; a new device beyond it is refused
        (:class:`DeviceLimitError`, counted in :attr:`refused`), an existing one is never
        evicted for it. None: no limit.
    store
        Where device states are saved (:meth:`save`, :meth:`evict_idle`) and restored from
        when a device appears: a known person resumes with their calibration.
    resume_within_s
        A saved state is resumed only when the device's new data starts at or after its last
        saved frame and at most this many seconds later (the device's clock); otherwise the
        device starts a new session.
    """

    def __init__(
        self,
        model: Predictor | str | Path = "default",
        *,
        hop_s: float | None = None,
        max_missing: float | None = None,
        batch: bool = False,
        warmup_every_s: float | None = None,
        max_devices: int | None = None,
        store: DeviceStore | None = None,
        resume_within_s: float = DEFAULT_RESUME_WITHIN_S,
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
        self._warm_records: list[PredictionRecord] = []
        if max_devices is not None and max_devices < 1:
            raise ValueError(f"max_devices must be at least 1 (or None); got {max_devices}")
        self.max_devices = max_devices
        self.store = store
        self.resume_within_s = float(resume_within_s)
        self.refused = 0  #: chunks of new devices refused because the table was full
        self.restored = 0  #: devices resumed from a saved state
        self.evicted = 0  #: idle devices dropped (and saved) by :meth:`evict_idle`
        self._saved_frames: dict[str, int] = {}

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

    def admits(self, device_id: str) -> bool:
        """True when ``device_id`` is held or there is room for it."""
        return (
            device_id in self.devices
            or self.max_devices is None
            or len(self.devices) < self.max_devices
        )

    def device(self, device_id: str, t_first: float | None = None) -> DeviceState:
        """The state of ``device_id``, created on first use: from its saved state when the
        :attr:`store` has one that fits (see ``resume_within_s``; ``t_first`` is the time of
        the device's first new sample, seconds on its clock), else fresh.

        Raises
        ------
        DeviceLimitError
            For a new device while :attr:`max_devices` are held.
        """
        st = self.devices.get(device_id)
        if st is not None:
            return st
        if not self.admits(device_id):
            self.refused += 1
            raise DeviceLimitError(
                f"device {device_id!r} refused: the monitor holds its limit of "
                f"{self.max_devices} devices (raise max_devices, or lower idle_timeout_s so "
                "idle devices leave sooner)"
            )
        st = DeviceState(device_id, self.predictor, self.hop_s, self.max_missing)
        self._seq[device_id] = 0
        if self.store is not None:
            st = self._restore(self.store, st, t_first)
        self.devices[device_id] = st
        return st

    def _restore(self, store: DeviceStore, st: DeviceState, t_first: float | None) -> DeviceState:
        """``st`` continued from its saved state in ``store`` when one fits, else ``st``."""
        saved = store.load(st.device)
        if saved is None:
            return st
        last = saved.last_frame_s
        if t_first is not None and last is not None:
            late = t_first - last
            if late < -0.5 or late > self.resume_within_s:
                log.info(
                    "device %s: new data starts %.1f s after its saved session's last frame "
                    "(resumed only within 0-%g s); a new session starts",
                    st.device,
                    late,
                    self.resume_within_s,
                )
                return st
        try:
            st.load_state_dict(saved.state["device"])
            seq = int(saved.state["seq"])
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            store.ignore(st.device, f"does not fit this model's session ({exc})")
            return DeviceState(st.device, self.predictor, self.hop_s, self.max_missing)
        self._seq[st.device] = seq
        self._saved_frames[st.device] = st.counters.frames
        self.restored += 1
        log.info(
            "device %s resumed from its saved state (%d windows so far; calibrated: %s)",
            st.device,
            st.counters.windows,
            st.session.calibrated,
        )
        return st

    def adopt(self, st: DeviceState, seq: int) -> None:
        """Hold ``st`` (a device state restored elsewhere, e.g. by a cluster worker that took
        the device over) as its device's state, its next record numbered ``seq``."""
        self.devices[st.device] = st
        self._seq[st.device] = int(seq)
        self._saved_frames[st.device] = st.counters.frames

    def forget(self, device_id: str) -> None:
        """Drop a device's state (it vanished; a return starts afresh unless it was saved)."""
        self.devices.pop(device_id, None)
        self._warm_last.pop(device_id, None)
        self._seq.pop(device_id, None)
        self._saved_frames.pop(device_id, None)

    def snapshot(
        self, devices: list[str] | None = None, changed_only: bool = True
    ) -> list[tuple[str, dict[str, Any], float | None]]:
        """``(device, state, last_frame_s)`` of each device (default: all) that can be saved
        (not in a baseline warm-up) and, with ``changed_only``, got frames since its last
        save: what :meth:`DeviceStore.save` writes. Marks them saved.

        Each state holds copies, not the device's live arrays: the daemon writes it from a
        worker thread while the device goes on."""
        out = []
        for dev in self.devices if devices is None else devices:
            st = self.devices.get(dev)
            if st is None or not st.session.resumable or st.session.first_k is None:
                continue
            if changed_only and self._saved_frames.get(dev) == st.counters.frames:
                continue
            out.append((dev, {"device": st.state_dict(), "seq": self._seq[dev]}, st.last_frame_s))
            self._saved_frames[dev] = st.counters.frames
        return out

    def save(self, devices: list[str] | None = None, changed_only: bool = True) -> int:
        """Write the :meth:`snapshot` of these devices to the :attr:`store`; returns how many.

        Raises
        ------
        ValueError
            Without a store.
        """
        if self.store is None:
            raise ValueError("this monitor has no store to save device states to")
        snaps = self.snapshot(devices, changed_only)
        for dev, state, last in snaps:
            self.store.save(dev, state, last)
        return len(snaps)

    def idle(self, idle_s: float, now: float | None = None) -> list[str]:
        """Devices without data for more than ``idle_s`` seconds (``time.monotonic``)."""
        now = time.monotonic() if now is None else now
        return [d for d, st in self.devices.items() if now - st.last_data > idle_s]

    def evict_idle(self, idle_s: float, now: float | None = None) -> list[str]:
        """Save (with a store) and drop every device idle for more than ``idle_s`` seconds;
        returns their ids. Queued windows of theirs are predicted first."""
        gone = self.idle(idle_s, now)
        if gone and self.store is not None:
            self.save(gone, changed_only=True)
        for dev in gone:
            self.forget(dev)
        self.evicted += len(gone)
        return gone

    def push(
        self,
        device_id: str,
        modality: str,
        samples: np.ndarray,
        *,
        start_time: float | None = None,
        timestamps: np.ndarray | None = None,
        received: float | None = None,
    ) -> list[PredictionRecord]:
        """Feed one chunk of one device's modality; return the records it produced.

        Raises
        ------
        DeviceLimitError
            For a new device while :attr:`max_devices` are held (nothing is kept of it).
        ValueError
            For a chunk the device's preprocessing cannot take.
        """
        t_first = float(timestamps[0]) if timestamps is not None and len(timestamps) else start_time
        st = self.device(device_id, t_first)
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
    ) -> list[PredictionRecord]:
        """Feed one chunk of several modalities of one device."""
        st = self.device(device_id, min(start_times.values()) if start_times else None)
        wins = st.push_many(chunks, start_times=start_times, received=received)
        self._pending.extend(wins)
        self._warmup(st, received)
        return [] if self.batch else self.flush()

    def _warmup(self, st: DeviceState, received: float | None) -> None:
        """Queue a ``calibrating`` record for a device still warming up (rate-limited)."""
        every = self.warmup_every_s
        warm = None if every is None else st.session.warmup()
        if warm is None or every is None:
            return
        t, left_s = warm
        last = self._warm_last.get(st.device)
        if last is not None and t - last < every:
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

    def flush(self) -> list[PredictionRecord]:
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
            "refused": self.refused,
            "restored": self.restored,
            "evicted": self.evicted,
        }
