"""Streaming-first DSP shared by training and serving: filters, resampling, beats, quality."""

from __future__ import annotations

from affectstream.dsp.beats import (
    BeatScore,
    beat_intervals,
    detect_pulse_peaks,
    detect_r_peaks,
    heart_rate_series,
    score_beats,
)
from affectstream.dsp.filters import StreamingFilter, design_sos, filter_offline
from affectstream.dsp.preprocessor import Frames, Preprocessor
from affectstream.dsp.presets import PRESETS, preset
from affectstream.dsp.quality import signal_quality

__all__ = [
    "PRESETS",
    "BeatScore",
    "Frames",
    "Preprocessor",
    "StreamingFilter",
    "beat_intervals",
    "design_sos",
    "detect_pulse_peaks",
    "detect_r_peaks",
    "filter_offline",
    "heart_rate_series",
    "preset",
    "score_beats",
    "signal_quality",
]
