"""affectstream: real-time emotion monitoring from wearable physiological signals."""

from __future__ import annotations

__version__ = "0.1.0"
