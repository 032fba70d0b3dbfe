"""A small XDF writer: numeric and string streams with per-sample timestamps and clock offsets.

It writes the chunks LabRecorder writes (file header, stream headers, samples, clock offsets,
stream footers; XDF 1.0), enough to turn real recordings into XDF test files that
:func:`affectstream.data.xdf.read_xdf` and ``pyxdf`` read back.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

#: numpy dtype per numeric LSL channel format.
FORMAT_DTYPES = {
    "float32": "<f4",
    "double64": "<f8",
    "int8": "<i1",
    "int16": "<i2",
    "int32": "<i4",
    "int64": "<i8",
}


@dataclass
class XdfStreamSpec:
    """One stream to write.

    Parameters
    ----------
    name, type
        The LSL stream name and type (``BVP``, ``Markers``, ...).
    time_stamps
        Sample times in seconds on the sender's clock, shape ``(n,)``.
    time_series
        Shape ``(n, n_channels)`` numbers, or a sequence of strings for a one-channel string
        stream.
    nominal_srate
        Hz; 0 for an irregular stream.
    channel_format
        ``float32``, ``double64``, ``int16``, ... or ``string``.
    channels, units
        Channel labels and units for ``desc/channels``.
    clock_offsets
        ``(collection_time, offset)`` pairs, seconds: the receiver's clock minus the sender's.
    source_id
        The stream's source id.
    """

    name: str
    type: str
    time_stamps: np.ndarray
    time_series: np.ndarray | Sequence[str]
    nominal_srate: float
    channel_format: str = "float32"
    channels: Sequence[str] = ()
    units: Sequence[str] = ()
    clock_offsets: Sequence[tuple[float, float]] = field(default_factory=list)
    source_id: str = ""


def _varlen(n: int) -> bytes:
    if n < 256:
        return b"\x01" + struct.pack("<B", n)
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _header_xml(sid: int, s: XdfStreamSpec, n_ch: int) -> bytes:
    chans = "".join(
        f"<channel><label>{escape(lab)}</label>"
        f"<unit>{escape(s.units[i] if i < len(s.units) else '')}</unit>"
        f"<type>{escape(s.type)}</type></channel>"
        for i, lab in enumerate(s.channels)
    )
    xml = (
        '<?xml version="1.0"?><info>'
        f"<name>{escape(s.name)}</name><type>{escape(s.type)}</type>"
        f"<channel_count>{n_ch}</channel_count><nominal_srate>{s.nominal_srate!r}</nominal_srate>"
        f"<channel_format>{s.channel_format}</channel_format>"
        f"<source_id>{escape(s.source_id)}</source_id><uid>affectstream-{sid}</uid>"
        f"<desc>{'<channels>' + chans + '</channels>' if chans else ''}</desc></info>"
    )
    return xml.encode()


def write_xdf(path: str | Path, streams: Sequence[XdfStreamSpec], chunk_samples: int = 256) -> None:
    """Write ``streams`` to an XDF file at ``path``, samples in chunks of ``chunk_samples``."""
    out = [b"XDF:", _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]
    for sid, s in enumerate(streams, start=1):
        string = s.channel_format == "string"
        n_ch = (
            1 if string else int(np.asarray(s.time_series).reshape(len(s.time_stamps), -1).shape[1])
        )
        out.append(_chunk(2, struct.pack("<I", sid) + _header_xml(sid, s, n_ch)))
    for sid, s in enumerate(streams, start=1):
        ts = np.asarray(s.time_stamps, dtype=np.float64)
        string = s.channel_format == "string"
        values = (
            list(s.time_series)
            if string
            else np.asarray(s.time_series)
            .reshape(ts.size, -1)
            .astype(FORMAT_DTYPES[s.channel_format])
        )
        for a in range(0, ts.size, chunk_samples):
            b = min(a + chunk_samples, ts.size)
            body = [struct.pack("<I", sid), _varlen(b - a)]
            for i in range(a, b):
                body.append(b"\x08" + struct.pack("<d", ts[i]))
                if string:
                    text = str(values[i]).encode()
                    body.append(_varlen(len(text)) + text)
                else:
                    body.append(values[i].tobytes())
            out.append(_chunk(3, b"".join(body)))
        for t, off in s.clock_offsets:
            out.append(_chunk(4, struct.pack("<Idd", sid, t, off)))
    for sid, s in enumerate(streams, start=1):
        ts = np.asarray(s.time_stamps, dtype=np.float64)
        first, last = (ts[0], ts[-1]) if ts.size else (0.0, 0.0)
        xml = (
            '<?xml version="1.0"?><info>'
            f"<first_timestamp>{first!r}</first_timestamp><last_timestamp>{last!r}</last_timestamp>"
            f"<sample_count>{ts.size}</sample_count></info>"
        )
        out.append(_chunk(6, struct.pack("<I", sid) + xml.encode()))
    Path(path).write_bytes(b"".join(out))
