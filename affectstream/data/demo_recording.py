"""The recording bundled with the package: a 22-minute excerpt of a real E4 session."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from affectstream.data.native import load_npz
from affectstream.data.recording import Recording

#: File name of the bundled excerpt under ``affectstream/data/excerpts``.
EXCERPT = "stress_predict_S13.npz"


def excerpt_path() -> Path:
    """Path of the bundled demo recording inside the installed package."""
    return Path(str(resources.files("affectstream.data") / "excerpts" / EXCERPT))


def load_excerpt() -> Recording:
    """The bundled excerpt: Stress-Predict S13, first 1,320 s (BVP 64 Hz, EDA and TEMP 4 Hz,
    rest/stress labels), held out of the default model's training."""
    return load_npz(excerpt_path())
