"""Reader for XDF files, what LabRecorder writes when a lab records its Lab Streaming Layer
streams (via ``pyxdf``, extra ``files``).

Every stream is loaded with its clock offsets applied, its jitter removed and clock resets
handled (``pyxdf.load_xdf(..., synchronize_clocks=True, dejitter_timestamps=True,
handle_clock_resets=True)``), so all streams of a file share the recording machine's clock.

Streams become modalities by their LSL type (``ECG``, ``EDA``/``GSR``, ``TEMP``, ``BVP``/``PPG``,
``HR``, ``IBI``, ...; :func:`affectstream.data.recording.canonical_modality`), else by their name,
else by their channel labels (a generic stream such as ``bio`` with channels ``ECG``, ``EDA``
gives one modality per label). Streams that name no modality, a second stream of a modality
already taken, and numeric streams without samples are listed in ``meta["skipped_streams"]``
and left out.

String streams are markers, read as labels by the marker convention of
:mod:`affectstream.data.markers` (``LABEL:start`` / ``LABEL:end``, or a ``marker_map``).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

log = logging.getLogger("affectstream.data.xdf")

#: Timestamps whose intervals all lie within this fraction of the nominal period are regular.
REGULAR_TOLERANCE = 0.01


@dataclass(frozen=True)
class XdfStream:
    """One stream of an XDF file, synchronised.

    Attributes
    ----------
    stream_id
        The stream's id in the file.
    name, type, source_id, channel_format
        From the stream header.
    nominal_srate
        Hz; 0 for an irregular stream (markers).
    channels
        Channel labels (``desc/channels/channel/label``), ``ch0, ch1, ...`` where absent.
    units
        Channel units, ``""`` where absent.
    time_stamps
        Seconds on the recording machine's clock, shape ``(n_samples,)``.
    time_series
        Shape ``(n_samples, n_channels)``: float64 for numeric streams, ``object`` (str) for
        string streams.
    desc
        The header's ``desc`` element as pyxdf parses it (nested dicts of lists), or None.
    segments
        ``(first, last)`` sample indices of each stretch without a clock reset or break.
    """

    stream_id: int
    name: str
    type: str
    source_id: str
    channel_format: str
    nominal_srate: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    time_stamps: np.ndarray
    time_series: np.ndarray
    desc: Any
    segments: tuple[tuple[int, int], ...]

    @property
    def is_string(self) -> bool:
        """True for a string (marker) stream."""
        return self.channel_format == "string"

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.time_stamps.size)


def _first(info: Mapping[str, Any], key: str, default: str = "") -> str:
    v = info.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    return default if v is None else str(v)


def _channel_meta(desc: Any, n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    labels = [f"ch{i}" for i in range(n)]
    units = [""] * n
    try:
        chans = desc["channels"][0]["channel"]
    except (TypeError, KeyError, IndexError):
        return tuple(labels), tuple(units)
    for i, ch in enumerate(chans[:n]):
        if ch and ch.get("label"):
            labels[i] = str(ch["label"][0])
        if ch and ch.get("unit"):
            units[i] = str(ch["unit"][0])
    return tuple(labels), tuple(units)


def _check_chunks(path: Path) -> None:
    """Walk the file's chunk structure and raise, naming the byte offset, where it is broken
    (pyxdf itself stops reading at a damaged chunk with a log message and no error)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] != b"XDF:":
        raise RecordingFormatError(
            path,
            "not an XDF file (it does not start with 'XDF:')",
            hint="Give a file LabRecorder (or another XDF writer) wrote",
        )
    pos, size = 4, len(data)
    while pos < size:
        n_len = data[pos]
        if n_len not in (1, 4, 8) or pos + 1 + n_len > size:
            raise RecordingFormatError(
                path,
                f"damaged XDF chunk at byte {pos} (its length field is cut or invalid)",
                hint="The file was cut short or overwritten: re-copy it, or cut the file "
                f"at byte {pos} to keep the chunks before it",
            )
        length = int.from_bytes(data[pos + 1 : pos + 1 + n_len], "little")
        end = pos + 1 + n_len + length
        if length < 2 or end > size:
            raise RecordingFormatError(
                path,
                f"truncated XDF chunk at byte {pos}: it says {length} bytes, "
                f"{size - pos - 1 - n_len} remain",
                hint="The recording was cut short (LabRecorder stopped or the copy was "
                f"incomplete): re-copy the file, or truncate it to its first {pos} bytes to "
                "read the chunks before the damage",
            )
        (tag,) = struct.unpack("<H", data[pos + 1 + n_len : pos + 3 + n_len])
        if tag not in (1, 2, 3, 4, 5, 6):
            raise RecordingFormatError(
                path,
                f"XDF chunk at byte {pos} has the unknown tag {tag}",
                hint="The file is damaged: re-copy it",
            )
        pos = end


def read_xdf_streams(path: str | Path) -> list[XdfStream]:
    """Every stream of an XDF file, synchronised, in the order of their ids.

    Raises
    ------
    RecordingFormatError
        For a file that is not XDF, has a truncated or damaged chunk, or that pyxdf refuses.
    """
    import pyxdf

    p = Path(path)
    if not p.is_file():
        raise RecordingFormatError(p, "no such file")
    _check_chunks(p)
    try:
        raw, _header = pyxdf.load_xdf(
            str(p),
            synchronize_clocks=True,
            dejitter_timestamps=True,
            handle_clock_resets=True,
        )
    except Exception as exc:  # pyxdf raises bare Exceptions and struct/XML errors
        raise RecordingFormatError(p, f"pyxdf cannot read it ({exc})") from exc
    try:
        out = [_stream(s) for s in raw]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise RecordingFormatError(
            p, f"a stream header or its samples cannot be read ({exc})", hint="Re-copy the file"
        ) from exc
    return sorted(out, key=lambda st: st.stream_id)


def _stream(s: Mapping[str, Any]) -> XdfStream:
    """One pyxdf stream dict as an :class:`XdfStream`."""
    info = s["info"]
    fmt = _first(info, "channel_format")
    n_ch = int(_first(info, "channel_count", "1") or 1)
    ts = np.asarray(s["time_stamps"], dtype=np.float64).reshape(-1)
    desc = (info.get("desc") or [None])[0]
    chans, units = _channel_meta(desc, n_ch)
    if fmt == "string":
        series = np.array(
            [[str(v) for v in row] for row in s["time_series"]], dtype=object
        ).reshape(ts.size, n_ch)
    else:
        series = np.asarray(s["time_series"], dtype=np.float64).reshape(ts.size, n_ch)
    segs = tuple((int(a), int(b)) for a, b in info.get("segments") or [])
    return XdfStream(
        stream_id=int(info["stream_id"]),
        name=_first(info, "name"),
        type=_first(info, "type"),
        source_id=_first(info, "source_id"),
        channel_format=fmt,
        nominal_srate=float(_first(info, "nominal_srate", "0") or 0),
        channels=chans,
        units=units,
        time_stamps=ts,
        time_series=series,
        desc=desc,
        segments=segs,
    )


def stream_modalities(st: XdfStream) -> dict[str, list[int]]:
    """Which modality each channel of a numeric stream carries: ``{"eda": [0]}``; empty when
    neither the type, the name nor the channel labels name one."""
    for key in (st.type, st.name):
        mod = canonical_modality(key) if key.strip() else None
        if mod is not None:
            return {mod: list(range(len(st.channels)))}
    groups: dict[str, list[int]] = {}
    for i, lab in enumerate(st.channels):
        mod = canonical_modality(lab)
        if mod is not None:
            groups.setdefault(mod, []).append(i)
    return groups


def _signal(st: XdfStream, mod: str, cols: list[int]) -> Signal:
    ts = st.time_stamps
    fs = st.nominal_srate
    regular = False
    if fs > 0 and ts.size > 1:
        dt = np.diff(ts)
        regular = bool(np.all(np.abs(dt - 1.0 / fs) <= REGULAR_TOLERANCE / fs))
    elif ts.size > 1:
        fs = 1.0 / float(np.median(np.diff(ts)))  # an irregular stream: its median rate
    else:
        fs = fs or 1.0
    units = [st.units[j] for j in cols if st.units[j]]
    return Signal(
        st.time_series[:, cols],
        fs,
        float(ts[0]),
        tuple(st.channels[j] for j in cols),
        None if regular else ts,
        units[0] if units else MODALITY_UNITS.get(mod, ""),
    )


def read_xdf(
    path: str | Path,
    *,
    marker_map: Mapping[str, str] | None = None,
    subject: str | None = None,
) -> Recording:
    """Read an XDF file as one recording: its physiological streams as modalities, its string
    streams as labels (see the module docstring).

    Raises
    ------
    RecordingFormatError
        For a damaged file, or one with no stream of a known modality (the message lists the
        streams and says how to name them).
    """
    p = Path(path)
    streams = read_xdf_streams(p)
    signals: dict[str, Signal] = {}
    skipped: list[str] = []
    marker_streams = []
    for st in streams:
        what = (
            f"{st.name!r} (type {st.type!r}, {len(st.channels)} channels, {st.n_samples} samples)"
        )
        if st.is_string:
            marker_streams.append(st)
            continue
        groups = stream_modalities(st)
        if not groups:
            skipped.append(f"{what}: no known modality")
            continue
        if st.n_samples == 0:
            skipped.append(f"{what}: no samples")
            continue
        for mod, cols in groups.items():
            if mod in signals:
                skipped.append(f"{what}: a second {mod} stream")
                continue
            signals[mod] = _signal(st, mod, cols)
    for line in skipped:
        log.info("%s: stream %s is left out", p, line)
    if not signals:
        listed = "; ".join(skipped) or "none"
        raise RecordingFormatError(
            p,
            f"no stream of a known modality (streams: {listed})",
            hint="Give the LSL streams a type or name such as ECG, EDA/GSR, TEMP, BVP/PPG, HR "
            "or IBI, or label their channels with those names",
        )
    end = max(s.end_time for s in signals.values())
    labels: list[LabelInterval] = []
    for st in marker_streams:
        if st.n_samples == 0:
            continue
        found = markers_to_labels(st.time_stamps, list(st.time_series[:, 0]), end, marker_map)
        if found and labels:
            skipped.append(f"{st.name!r}: a second marker stream with labels")
            continue
        labels = found
    return Recording(
        signals,
        subject=subject,
        session=p.stem,
        labels=labels,
        source=str(p),
        meta={"format": "xdf", "skipped_streams": skipped},
    )
