"""Reader for EDF, EDF+ and BDF/BDF+ files (clinical and sleep systems) via ``pyedflib``
(extra ``files``).

Signals become modalities by their label (``ECG``, ``EKG``, an ECG lead such as ``II`` or
``V5``, ``EDA``, ``GSR``, ``Temp``, ``PPG``, ``HR``, ...;
:func:`affectstream.data.recording.canonical_modality`), else by their physical dimension
(``uS`` is EDA, ``degC`` is TEMP, ``bpm`` is HR). Signals of one modality
at one rate are its channels; others (unknown labels, a second rate) are listed in
``meta["skipped_signals"]`` and left out. EDF+ annotations with a duration are label
intervals; those without one are markers (:mod:`affectstream.data.markers`). The start time is
the header's start date and time, read as UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from affectstream.data.errors import RecordingFormatError
from affectstream.data.markers import markers_to_labels
from affectstream.data.recording import (
    MODALITY_UNITS,
    LabelInterval,
    Recording,
    Signal,
    canonical_modality,
)
from affectstream.data.wfdb_record import ECG_LEADS

#: Physical dimension (lower case) -> modality, for signals whose label names none.
DIMENSION_MODALITIES = {
    "us": "eda",
    "µs": "eda",
    "μs": "eda",
    "usiemens": "eda",
    "degc": "temp",
    "°c": "temp",
    "deg c": "temp",
    "bpm": "hr",
    "1/min": "hr",
}

EDF_SUFFIXES = (".edf", ".bdf", ".rec")


def signal_modality(label: str, dimension: str) -> str | None:
    """The modality of an EDF signal from its label (an ECG lead name such as ``V5`` is ECG),
    else its physical dimension."""
    if label.strip().lower() in ECG_LEADS:
        return "ecg"
    return canonical_modality(label) or DIMENSION_MODALITIES.get(dimension.strip().lower())


def read_edf(
    path: str | Path,
    *,
    marker_map: Mapping[str, str] | None = None,
    subject: str | None = None,
) -> Recording:
    """Read an EDF/EDF+/BDF/BDF+ file as one recording.

    Raises
    ------
    RecordingFormatError
        For a file pyedflib cannot open (a damaged header names what to do), or one with no
        signal of a known modality (the message lists the signals).
    """
    import pyedflib

    p = Path(path)
    if not p.is_file():
        raise RecordingFormatError(p, "no such file")
    try:
        reader = pyedflib.EdfReader(str(p))
    except OSError as exc:
        raise RecordingFormatError(
            p,
            f"not a readable EDF/BDF file ({str(exc).strip()})",
            hint="Check the header (the first 256 bytes and 256 per signal) with an EDF "
            "validator such as EDFbrowser's header editor, or re-export the recording",
        ) from exc
    try:
        start = reader.getStartdatetime().replace(tzinfo=dt.UTC).timestamp()
        groups: dict[str, list[int]] = {}
        skipped: list[str] = []
        for i in range(reader.signals_in_file):
            label = reader.getLabel(i).strip()
            dim = reader.getPhysicalDimension(i).strip()
            mod = signal_modality(label, dim)
            fs = float(reader.getSampleFrequency(i))
            if mod is None:
                skipped.append(f"{label!r} ({dim or 'no unit'}, {fs:g} Hz): no known modality")
                continue
            first = groups.get(mod)
            if first and float(reader.getSampleFrequency(first[0])) != fs:
                skipped.append(f"{label!r} ({fs:g} Hz): {mod} is already read at another rate")
                continue
            groups.setdefault(mod, []).append(i)
        signals = {}
        for mod, idx in groups.items():
            data = np.stack([reader.readSignal(i) for i in idx], axis=1)
            dims = [reader.getPhysicalDimension(i).strip() for i in idx]
            signals[mod] = Signal(
                data,
                float(reader.getSampleFrequency(idx[0])),
                start,
                tuple(reader.getLabel(i).strip() for i in idx),
                None,
                dims[0] or MODALITY_UNITS.get(mod, ""),
            )
        onsets, durations, texts = reader.readAnnotations()
    finally:
        reader.close()
    if not signals:
        raise RecordingFormatError(
            p,
            f"no signal of a known modality (signals: {'; '.join(skipped) or 'none'})",
            hint="Label the signals ECG, EDA/GSR, TEMP, BVP/PPG, HR or RESP, or give EDA in uS "
            "and TEMP in degC",
        )
    end = max(s.end_time for s in signals.values())
    spans = [
        LabelInterval(str(t), start + float(o), start + float(o) + float(d))
        for o, d, t in zip(onsets, durations, texts, strict=True)
        if float(d) > 0 and (marker_map is None or str(t) in marker_map)
    ]
    if marker_map is not None:
        spans = [LabelInterval(marker_map[iv.label], iv.start, iv.end) for iv in spans]
    points = [(start + float(o), str(t)) for o, d, t in zip(onsets, durations, texts, strict=True)]
    points = [(o, t) for (o, t), d in zip(points, durations, strict=True) if not float(d) > 0]
    marks = markers_to_labels(
        np.array([o for o, _ in points]), [t for _, t in points], end, marker_map
    )
    return Recording(
        signals,
        subject=subject,
        session=p.stem,
        labels=spans or marks,
        source=str(p),
        meta={"format": "edf", "skipped_signals": skipped},
    )
