"""Recordings and the readers that load them (E4, long CSV, time CSV, WFDB, npz)."""

from __future__ import annotations

from affectstream.data.demo_recording import excerpt_path, load_excerpt
from affectstream.data.errors import RecordingFormatError
from affectstream.data.loader import FORMATS, detect_format, load_recordings
from affectstream.data.native import load_npz, save_npz
from affectstream.data.recording import LabelInterval, Recording, Signal, canonical_modality

__all__ = [
    "FORMATS",
    "LabelInterval",
    "Recording",
    "RecordingFormatError",
    "Signal",
    "canonical_modality",
    "detect_format",
    "excerpt_path",
    "load_excerpt",
    "load_npz",
    "load_recordings",
    "save_npz",
]
