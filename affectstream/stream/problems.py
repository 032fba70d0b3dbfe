"""Counting and logging bad input: one counter per kind, warnings rate-limited per device.

Every source and the chunk validator report through one :class:`Problems`, so the counters
mean the same for MQTT, LSL and replay, and a second bad device is logged even when the first
has been sending bad input for hours.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

log = logging.getLogger("affectstream.daemon")

#: Warnings logged in full for each (device, kind) before rate-limiting starts.
FIRST_WARNINGS = 5
#: After the first ones, at most one warning per (device, kind) every this many seconds.
WARN_INTERVAL_S = 60.0
#: Devices whose bad input is counted one by one; the rest (and input without a valid device
#: id) share the :data:`OTHER_DEVICES` entry, so a flood of new ids cannot grow the table.
MAX_TRACKED_DEVICES = 1000
#: The shared entry of :attr:`Problems.by_device` beyond :data:`MAX_TRACKED_DEVICES`.
OTHER_DEVICES = "(other devices)"


class Problems:
    """Counters of what happened to the input, with per-device, per-kind warning limits.

    Parameters
    ----------
    first
        Warnings logged for each (device, kind) before rate-limiting.
    interval_s
        Afterwards, seconds between two warnings of one (device, kind); the one logged says
        how many were not.

    Attributes
    ----------
    counters
        Totals across devices, by kind (``bad_payloads``, ``wrong_rate``, ``samples_in``, ...).
    by_device
        The same per device (bad input only).
    """

    def __init__(
        self,
        first: int = FIRST_WARNINGS,
        interval_s: float = WARN_INTERVAL_S,
        max_devices: int = MAX_TRACKED_DEVICES,
    ) -> None:
        self.first = first
        self.interval_s = interval_s
        self.max_devices = max_devices
        self.counters: Counter[str] = Counter()
        self.by_device: dict[str, Counter[str]] = {}
        self._last_log: dict[tuple[str, str], float] = {}
        self._unlogged: Counter[tuple[str, str]] = Counter()

    def count(self, kind: str, n: int = 1) -> None:
        """Add ``n`` to a counter without logging (``samples_in``, ``lsl_reconnects``, ...)."""
        self.counters[kind] += n

    def bad(self, kind: str, device: str, msg: str) -> None:
        """Count one bad input of ``kind`` from ``device`` and log it, rate-limited per
        (device, kind): the first :attr:`first` in full, then one per :attr:`interval_s`."""
        self.counters[kind] += 1
        if device not in self.by_device and len(self.by_device) >= self.max_devices:
            device = OTHER_DEVICES
        mine = self.by_device.setdefault(device, Counter())
        mine[kind] += 1
        key = (device, kind)
        n = mine[kind]
        now = time.monotonic()
        if n <= self.first or now - self._last_log.get(key, -1e18) >= self.interval_s:
            skipped = self._unlogged.pop(key, 0)
            more = f"; {skipped} more not logged since the last" if skipped else ""
            log.warning("%s (%s #%d from %s%s)", msg, kind, n, device, more)
            self._last_log[key] = now
        else:
            self._unlogged[key] += 1

    def forget(self, device: str) -> None:
        """Drop ``device``'s per-device counts and warning state (it was evicted); the totals
        in :attr:`counters` stay."""
        self.by_device.pop(device, None)
        for store in (self._last_log, self._unlogged):
            for key in [k for k in store if k[0] == device]:
                del store[key]
