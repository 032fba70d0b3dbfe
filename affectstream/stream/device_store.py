"""Each device's person state on disk, so a restart or an eviction does not cost a calibration.

One small JSON file per device, ``<dir>/<device>.state.json``, written atomically (a temporary
file in the same folder, flushed and fsynced, then renamed over the old one), so a crash leaves
either the old state or the new one, never half of either. The file is self-describing and
independent of the process that wrote it::

    {"format": "affectstream.device-state", "version": 1, "model_id": "affectstream-...",
     "device": "e4-07", "saved_unix": 1764590000.0, "last_frame_s": 1234.5,
     "state": {...}}

``state`` is :meth:`affectstream.stream.device.DeviceState.state_dict` (the DSP's carried
state, the person session's schedule, calibration and output step, the record sequence; not
the 60 s window), with numpy arrays written as ``{"ndarray": [...], "dtype": ..., "shape":
[...]}`` and NaN as the JSON extension ``NaN`` that Python's :mod:`json` reads and writes. A
file written for another model, another format version or that does not parse is logged and
ignored: the device then starts a fresh session.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.stream.device_ids import device_id_problem

log = logging.getLogger("affectstream.daemon")

#: The ``format`` field of a state file.
STATE_FORMAT = "affectstream.device-state"
#: The layout version of a state file; a file of another version is ignored.
STATE_VERSION = 1
#: File name suffix of a device's state.
SUFFIX = ".state.json"


def to_json(obj: Any) -> Any:
    """``obj`` with numpy arrays and scalars replaced by JSON-ready values (see the module
    docstring); mappings, lists and tuples are walked."""
    if isinstance(obj, np.ndarray):
        return {"ndarray": obj.ravel().tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    return obj


def from_json(obj: Any) -> Any:
    """The inverse of :func:`to_json`: array entries back to numpy arrays."""
    if isinstance(obj, dict):
        if set(obj) == {"ndarray", "dtype", "shape"}:
            return np.asarray(obj["ndarray"], dtype=obj["dtype"]).reshape(obj["shape"])
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


@dataclass
class SavedState:
    """A device's state as read back from disk."""

    device: str
    model_id: str
    saved_unix: float  #: when it was written, seconds since the epoch
    last_frame_s: float | None  #: time of the session's last frame, seconds on its clock
    state: dict[str, Any]


class UnusableState(ValueError):
    """A stored state document that cannot be used; the message says why."""


def state_document(
    device: str, model_id: str, state: Mapping[str, Any], last_frame_s: float | None
) -> dict[str, Any]:
    """The self-describing JSON document of ``device``'s state, as every store keeps it (a file
    here, a KV value in a cluster): format, version, model id, device, save time, last frame."""
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "model_id": model_id,
        "device": device,
        "saved_unix": time.time(),
        "last_frame_s": last_frame_s,
        "state": to_json(state),
    }


def read_state_document(raw: str | bytes, device: str, model_id: str) -> SavedState:
    """The :class:`SavedState` in a document :func:`state_document` made.

    Raises
    ------
    UnusableState
        For a document that is not JSON, not this format or version, saved under another
        model, or another device's.
    """
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise UnusableState(f"is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise UnusableState(f"is not an {STATE_FORMAT} document")
    if doc.get("version") != STATE_VERSION:
        raise UnusableState(
            f"has format version {doc.get('version')!r}; this release reads {STATE_VERSION}"
        )
    if doc.get("model_id") != model_id:
        raise UnusableState(f"was saved under model {doc.get('model_id')!r}, not {model_id}")
    if doc.get("device") != device or not isinstance(doc.get("state"), dict):
        raise UnusableState(f"does not hold device {device!r}'s state")
    last = doc.get("last_frame_s")
    return SavedState(
        device,
        model_id,
        float(doc.get("saved_unix", 0.0)),
        None if last is None else float(last),
        from_json(doc["state"]),
    )


class DeviceStore:
    """The folder of saved device states for one model.

    Parameters
    ----------
    directory
        Created when missing.
    model_id
        The serving bundle's id; a state saved under another model is ignored on load.
    """

    def __init__(self, directory: str | Path, model_id: str) -> None:
        self.directory = Path(directory)
        self.model_id = model_id
        self.directory.mkdir(parents=True, exist_ok=True)
        self.saved = 0  #: states written
        self.ignored = 0  #: state files that could not be used (logged)

    def path(self, device: str) -> Path:
        """Where ``device``'s state lives.

        Raises
        ------
        ValueError
            For an id that is not a valid device id (it would not be a safe file name).
        """
        problem = device_id_problem(device)
        if problem is not None:
            raise ValueError(problem)
        return self.directory / f"{device}{SUFFIX}"

    def save(self, device: str, state: Mapping[str, Any], last_frame_s: float | None) -> Path:
        """Write ``device``'s state atomically; returns the file."""
        doc = state_document(device, self.model_id, state, last_frame_s)
        target = self.path(device)
        fd, tmp = tempfile.mkstemp(prefix=f".{device}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.saved += 1
        return target

    def load(self, device: str) -> SavedState | None:
        """``device``'s saved state, or None when there is none or it cannot be used (a corrupt
        file, another format version, another model, another device's: logged, counted in
        :attr:`ignored`)."""
        p = self.path(device)
        try:
            raw = p.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._ignore(p, f"cannot be read ({exc.strerror})")
        try:
            return read_state_document(raw, device, self.model_id)
        except UnusableState as exc:
            return self._ignore(p, str(exc))

    def ignore(self, device: str, why: str) -> None:
        """Log and count a loaded state that could not be applied (``why``)."""
        self._ignore(self.path(device), why)

    def _ignore(self, p: Path, why: str) -> SavedState | None:
        self.ignored += 1
        log.warning("device state %s %s; ignored: the device starts a fresh session", p, why)
        return None

    def devices(self) -> list[str]:
        """Devices with a state file here."""
        return sorted(f.name[: -len(SUFFIX)] for f in self.directory.glob(f"*{SUFFIX}"))
