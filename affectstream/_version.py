"""The package version (kept equal to pyproject.toml's; the bundle and the CLI report it)."""

from __future__ import annotations

__version__ = "0.1.0"
