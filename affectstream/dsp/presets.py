"""Per-modality filter presets: what the project does to each signal before the model sees it.

- ECG: 0.5 Hz high-pass (baseline wander; >= 50 dB down at 0.1 Hz) and 40 Hz low-pass.
- BVP/PPG: 0.5 Hz high-pass (baseline, respiration-induced drift) and 8 Hz low-pass.
- EDA: 1 Hz low-pass only, so the tonic level (microsiemens) survives.
- TEMP: 0.5 Hz low-pass only, so the level (degrees C) survives.
- RESP: 0.05 to 1 Hz band-pass.
- HR (beats/min, about 1 Hz, from a device's own beat detector) and IBI (beat-to-beat intervals
  in seconds, one sample per beat, irregular): no filter; they are already slow values, and
  frames between samples up to :data:`MAX_GAP_S` apart are interpolated.
"""

from __future__ import annotations

import copy

PRESETS: dict[str, list[dict[str, object]]] = {
    "ecg": [
        {"kind": "highpass", "cutoff": 0.5, "order": 4},
        {"kind": "lowpass", "cutoff": 40.0, "order": 4},
    ],
    "bvp": [
        {"kind": "highpass", "cutoff": 0.5, "order": 2},
        {"kind": "lowpass", "cutoff": 8.0, "order": 4},
    ],
    "eda": [{"kind": "lowpass", "cutoff": 1.0, "order": 2}],
    "temp": [{"kind": "lowpass", "cutoff": 0.5, "order": 2}],
    "resp": [{"kind": "bandpass", "low": 0.05, "high": 1.0, "order": 2}],
    "hr": [],
    "ibi": [],
}

#: Per-modality default of the largest spacing of two samples interpolated across (seconds),
#: where the Preprocessor's global ``max_gap_s`` (0.5 s) is too short: a 1 Hz heart rate and
#: beat intervals (one sample per beat, up to 2 s apart at 30 beats/min).
MAX_GAP_S: dict[str, float] = {"hr": 3.0, "ibi": 3.0}

#: Preprocessor config for an Empatica E4 wrist device (BVP 64 Hz, EDA 4 Hz, TEMP 4 Hz) on a
#: 32 Hz model grid: the demo's and the default model's.
E4_CONFIG: dict[str, object] = {
    "model_rate": 32.0,
    "modalities": [
        {"name": "bvp", "fs": 64.0},
        {"name": "eda", "fs": 4.0},
        {"name": "temp", "fs": 4.0},
    ],
}

#: The band where QRS complexes carry their energy, used by the R-peak detector (Hz).
QRS_BAND = {"kind": "bandpass", "low": 5.0, "high": 15.0, "order": 2}


def preset(modality: str) -> list[dict[str, object]]:
    """A copy of the filter stages for ``modality`` (``"ecg"``, ``"bvp"``, ``"eda"``, ...)."""
    try:
        return copy.deepcopy(PRESETS[modality])
    except KeyError:
        raise ValueError(
            f"no filter preset for modality {modality!r}; presets exist for "
            f"{', '.join(PRESETS)}; give the filters explicitly"
        ) from None
