"""Moving one device between workers without a new warm-up and without changing a prediction.

A saved device state (:meth:`DeviceState.state_dict`) holds the DSP's carried state and the
person session but not the session's window of frames: a plain restore counts that window as
missing (:meth:`PersonSession.load_state_dict`). A worker that takes a device over re-makes the
window from the raw messages kept in JetStream instead, so the device goes on exactly as it would
have on its old worker:

- while serving a device, :class:`DeviceMarks` keeps a few *marks*: the DSP's state as it was at
  a raw message (its JetStream sequence) and the frame index it would emit next, one every
  ``every_s`` seconds of the device's frames, back to at least one window before the newest;
- a save (:func:`handover_doc`) writes the device's state now, the raw sequence it has absorbed
  and the newest mark at least one window older;
- the next owner (:class:`Rebuild`) loads that mark's DSP state, feeds it the device's raw
  messages from the mark to the save (frames only: nothing is predicted again), keeps the frames
  the saved window held and loads the saved state with them (``held``). Messages after the save
  are then served as usual (their predictions were perhaps published by the old owner already:
  JetStream drops the copies by ``Nats-Msg-Id``).

Raw retention must therefore cover one window plus the save interval plus ``every_s``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.model.predictor import Predictor
from affectstream.stream.device import DeviceState
from affectstream.stream.device_store import to_json

log = logging.getLogger("affectstream.cluster")


@dataclass
class Mark:
    """The DSP of one device as it was after one raw message.

    Attributes
    ----------
    raw_seq
        JetStream sequence (stream ``RAW``) of the last raw message absorbed; 0: none.
    next_k
        Frame index (model-rate grid) the DSP emits next; None for a DSP that emitted none.
    dsp
        :meth:`Preprocessor.state_dict` as JSON (:func:`to_json`); None: a fresh DSP.
    """

    raw_seq: int
    next_k: int | None
    dsp: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"raw_seq": self.raw_seq, "next_k": self.next_k, "dsp": self.dsp}


def next_frame(st: DeviceState) -> int | None:
    """The frame index the device's session takes next (None before its first frame)."""
    s = st.session
    return None if s.first_k is None else s.first_k + s.buffer.total


class DeviceMarks:
    """The marks of one device served here (see the module docstring).

    Parameters
    ----------
    first_raw_seq
        JetStream sequence of the first raw message this worker absorbs for the device.
    fresh
        True when the device's DSP starts fresh at that message (a new device), False when it
        was restored (then the first mark is taken at once).
    every_s
        Seconds of the device's frames between two marks.
    """

    def __init__(
        self,
        first_raw_seq: int,
        fresh: bool,
        every_s: float = 10.0,
        inherited: Mark | None = None,
    ) -> None:
        self.every_s = float(every_s)
        self.marks: deque[Mark] = deque()
        if fresh:
            self.marks.append(Mark(first_raw_seq - 1, None, None))
        elif inherited is not None:  # the mark a restored device was rebuilt from
            self.marks.append(inherited)
        self._due = not fresh

    def note(self, st: DeviceState, raw_seq: int) -> None:
        """After raw message ``raw_seq`` was absorbed: take a mark when one is due, and drop
        those no save can need any more."""
        k = next_frame(st)
        if k is None:
            return
        last = self.marks[-1] if self.marks else None
        step = self.every_s * st.session.rate
        if self._due or last is None or last.next_k is None or k - last.next_k >= step:
            self._due = False
            self.marks.append(Mark(raw_seq, k, to_json(st.pp.state_dict())))
            cut = k - st.session.n_win
            while len(self.marks) > 1 and self.marks[1].next_k is not None:
                if self.marks[1].next_k > cut:
                    break
                self.marks.popleft()

    def drop_after(self, raw_seq: int) -> None:
        """Raw message ``raw_seq`` was absorbed late, after newer ones of the device's other
        topics: drop the marks taken since it came into RAW (their DSP state lacks it)."""
        while self.marks and self.marks[-1].raw_seq >= raw_seq:
            self.marks.pop()

    def mark_for(self, st: DeviceState) -> Mark | None:
        """The newest mark at or before the first frame the session's window holds now."""
        k = next_frame(st)
        if k is None:
            return self.marks[0] if self.marks else None
        cut = k - min(st.session.n_win, st.session.buffer.total)
        best = None
        for m in self.marks:
            if m.next_k is None or m.next_k <= cut:
                best = m
        return best


def handover_doc(state: Mapping[str, Any], raw_seq: int, mark: Mark | None) -> dict[str, Any]:
    """The saved state of a device for the next owner: ``state`` (what :meth:`Monitor.snapshot`
    gives: ``{"device": DeviceState.state_dict(), "seq": next record number}``), the raw
    sequence it has absorbed and the mark its window can be re-made from (None: it cannot)."""
    return {**state, "raw_seq": int(raw_seq), "mark": None if mark is None else mark.as_dict()}


class Rebuild:
    """Re-makes a device from its saved state and the raw messages since its mark.

    Parameters
    ----------
    device
        The device id.
    doc
        The saved state (:func:`handover_doc`), arrays already restored (:func:`from_json`).
    predictor, hop_s, max_missing
        As the monitor's.

    Attributes
    ----------
    start_seq
        The first raw sequence to feed (messages before it are not needed).
    end_seq
        The last raw sequence the saved state absorbed: :meth:`feed` messages up to it, then
        :meth:`finish`.
    """

    def __init__(
        self,
        device: str,
        doc: Mapping[str, Any],
        predictor: Predictor,
        hop_s: float | None,
        max_missing: float | None,
    ) -> None:
        self.device = device
        self.doc = doc
        self.st = DeviceState(device, predictor, hop_s, max_missing)
        self.end_seq = int(doc["raw_seq"])
        mark = doc.get("mark")
        #: the mark it is rebuilt from (still good for the next move until a newer one is)
        self.mark = (
            None
            if mark is None
            else Mark(
                int(mark["raw_seq"]),
                mark["next_k"],
                None if mark["dsp"] is None else to_json(mark["dsp"]),
            )
        )
        self.exact = mark is not None
        self.start_seq = self.end_seq + 1
        self._k: list[np.ndarray] = []
        self._x: list[np.ndarray] = []
        if mark is not None:
            self.start_seq = int(mark["raw_seq"]) + 1
            if mark["dsp"] is not None:
                self.st.pp.load_state_dict(mark["dsp"])

    def feed(
        self,
        modality: str,
        samples: np.ndarray,
        start_time: float | None,
        timestamps: np.ndarray | None,
    ) -> None:
        """One raw chunk between the mark and the save (in stream order): frames only."""
        fr = self.st.pp.push(modality, samples, start_time=start_time, timestamps=timestamps)
        if len(fr):
            self._k.append(fr.k)
            self._x.append(fr.x)

    def finish(self) -> tuple[DeviceState, int]:
        """The device state, going on from the save, and its next record number.

        Raises
        ------
        ValueError, KeyError, TypeError
            When the saved state does not fit this model.
        """
        saved = self.doc
        dev = saved["device"]
        sess = dev["session"]
        held = None
        if self.exact and sess["first_k"] is not None:
            total = int(sess["total"])
            k_end = int(sess["first_k"]) + total
            n_held = min(self.st.session.n_win, total)
            k = np.concatenate(self._k) if self._k else np.empty(0, np.int64)
            keep = (k >= k_end - n_held) & (k < k_end)
            if int(keep.sum()) == n_held:
                held = np.concatenate(self._x)[keep]
            else:
                log.warning(
                    "device %s: its last window (frames %d to %d) could not be re-made from "
                    "the raw stream (sequences %d to %d gave frames %s to %s): retention too "
                    "short? Its frames count as missing",
                    self.device,
                    k_end - n_held,
                    k_end,
                    self.start_seq,
                    self.end_seq,
                    k[0] if len(k) else None,
                    k[-1] if len(k) else None,
                )
        self.st.load_state_dict(dev, held)
        return self.st, int(saved["seq"])
