"""Device states in a JetStream key-value bucket: :class:`DeviceStore`'s interface (``save``,
``load``, ``ignore``, ``devices``), asynchronous, with compare-and-swap writes.

The value is the same self-describing JSON document :class:`DeviceStore` writes to a file
(:mod:`affectstream.stream.device_store`), so a state can move between a plain daemon's folder
and a cluster. Each write names the revision this worker last read or wrote
(``update(..., last=revision)``; ``create`` for a device never saved): a worker that lost a
device to another and did not notice yet cannot overwrite the newer state; its write fails with
:class:`StateConflict`, and it lets the device go.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from affectstream.stream.device_ids import device_id_problem
from affectstream.stream.device_store import (
    SavedState,
    UnusableState,
    read_state_document,
    state_document,
)

log = logging.getLogger("affectstream.cluster")


class StateConflict(RuntimeError):
    """The device's state was written by another worker since this one read it."""


class KvDeviceStore:
    """Device states of one model in a KV bucket.

    Parameters
    ----------
    kv
        A nats-py ``KeyValue`` (``js.key_value(bucket)``).
    model_id
        The serving bundle's id; a state saved under another model is ignored on load.
    """

    def __init__(self, kv: Any, model_id: str) -> None:
        self.kv = kv
        self.model_id = model_id
        self.directory = f"kv:{getattr(kv, '_name', 'bucket')}"
        self.saved = 0  #: states written
        self.ignored = 0  #: stored states that could not be used (logged)
        self.conflicts = 0  #: writes refused because another worker wrote first
        self._rev: dict[str, int] = {}

    @staticmethod
    def key(device: str) -> str:
        """The bucket key of ``device``.

        Raises
        ------
        ValueError
            For an id that is not a valid device id.
        """
        problem = device_id_problem(device)
        if problem is not None:
            raise ValueError(problem)
        return device

    async def save(self, device: str, state: Mapping[str, Any], last_frame_s: float | None) -> int:
        """Write ``device``'s state if nobody wrote it since this worker's last read or write;
        returns the new revision.

        Raises
        ------
        StateConflict
            When another worker wrote it meanwhile (this worker should let the device go).
        """
        import nats.js.errors

        doc = state_document(device, self.model_id, state, last_frame_s)
        data = json.dumps(doc, separators=(",", ":")).encode()
        key = self.key(device)
        rev = self._rev.get(device)
        try:
            if rev is None:
                new = await self.kv.create(key, data)
            else:
                new = await self.kv.update(key, data, last=rev)
        except nats.js.errors.APIError as exc:
            wrong = isinstance(exc, nats.js.errors.KeyWrongLastSequenceError)
            if not wrong and getattr(exc, "err_code", 0) not in (10071, 10164):
                raise
            self.conflicts += 1
            self._rev.pop(device, None)
            raise StateConflict(
                f"device {device}'s state was written by another worker (revision {rev} is old)"
            ) from None
        self._rev[device] = int(new)
        self.saved += 1
        return int(new)

    async def load(self, device: str) -> SavedState | None:
        """``device``'s stored state (its revision remembered for the next :meth:`save`), or
        None when there is none or it cannot be used (logged, counted in :attr:`ignored`)."""
        import nats.js.errors

        key = self.key(device)
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            self._rev.pop(device, None)
            return None
        self._rev[device] = int(entry.revision)
        if not entry.value:
            return None
        try:
            return read_state_document(entry.value, device, self.model_id)
        except UnusableState as exc:
            return self._ignore(device, str(exc))

    def forget(self, device: str) -> None:
        """Forget the revision of a device let go (the next owner writes it)."""
        self._rev.pop(device, None)

    def ignore(self, device: str, why: str) -> None:
        """Log and count a loaded state that could not be applied (``why``)."""
        self._ignore(device, why)

    def _ignore(self, device: str, why: str) -> SavedState | None:
        self.ignored += 1
        log.warning("device state %s/%s %s; ignored: a fresh session", self.directory, device, why)
        return None

    async def devices(self) -> list[str]:
        """Devices with a state in the bucket."""
        import nats.js.errors

        try:
            return sorted(await self.kv.keys())
        except nats.js.errors.NoKeysError:
            return []
