"""Live ingest, rolling buffers, hop scheduling and prediction sinks."""

from __future__ import annotations

from affectstream.stream.monitor import Monitor

__all__ = ["Monitor"]
