"""A bounded first-in-first-out spool of outgoing messages, kept on disk.

Predictions made while the broker is unreachable wait here, in order, and survive a restart of
the daemon. Each message is one line of JSON (payload base64) appended to ``spool.jsonl``; the
number of lines already delivered is kept in ``spool.head``, and the file is truncated whenever
the spool empties. Beyond ``max_items`` the oldest message is dropped and counted.
"""

from __future__ import annotations

import base64
import json
import os
from collections import deque
from pathlib import Path

Item = tuple[str, bytes, int]


class DiskSpool:
    """FIFO of ``(topic, payload, qos)``; ``directory=None`` keeps it in memory only."""

    def __init__(self, directory: str | Path | None, max_items: int = 100_000) -> None:
        self.max_items = max_items
        self.dropped = 0
        self._q: deque[Item] = deque()
        self._dir = Path(directory) if directory else None
        self._head = 0
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._file = self._dir / "spool.jsonl"
            self._head_file = self._dir / "spool.head"
            self._load()

    def _load(self) -> None:
        if self._head_file.is_file():
            try:
                self._head = int(self._head_file.read_text().strip() or 0)
            except ValueError:
                self._head = 0
        if self._file.is_file():
            with open(self._file) as fh:
                for i, line in enumerate(fh):
                    if i < self._head or not line.strip():
                        continue
                    try:
                        d = json.loads(line)
                        self._q.append((d["t"], base64.b64decode(d["p"]), int(d["q"])))
                    except (ValueError, KeyError):
                        continue  # a torn last line after a crash
        self._rewrite()

    def _rewrite(self) -> None:
        if self._dir is None:
            return  # an in-memory spool has no file to rewrite
        tmp = self._file.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            for t, p, q in self._q:
                fh.write(json.dumps({"t": t, "p": base64.b64encode(p).decode(), "q": q}) + "\n")
        os.replace(tmp, self._file)
        self._head = 0
        self._head_file.write_text("0")

    @property
    def persistent(self) -> bool:
        """True when the spool is kept on disk (it survives a restart)."""
        return self._dir is not None

    def __len__(self) -> int:
        return len(self._q)

    def append(self, item: Item) -> None:
        """Add a message at the end (dropping the oldest beyond ``max_items``)."""
        if len(self._q) >= self.max_items:
            self._q.popleft()
            self.dropped += 1
            self._head += 1
        self._q.append(item)
        if self._dir is not None:
            t, p, q = item
            with open(self._file, "a") as fh:
                fh.write(json.dumps({"t": t, "p": base64.b64encode(p).decode(), "q": q}) + "\n")
                fh.flush()

    def peek(self) -> Item:
        """The oldest message."""
        return self._q[0]

    def pop(self) -> None:
        """Forget the oldest message (it was delivered)."""
        self._q.popleft()
        if self._dir is not None:
            if not self._q:
                self._file.write_text("")
                self._head = 0
            else:
                self._head += 1
            self._head_file.write_text(str(self._head))
