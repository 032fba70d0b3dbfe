"""Replaying an XDF file as the LSL streams it recorded: the same names, types, channel formats,
channel metadata (label, unit, type) and nominal rates, every sample at its recorded time
relative to the file's first sample (the streams' clocks synchronised by the reader), string
markers included."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.data.xdf import XdfStream, read_xdf_streams

log = logging.getLogger("affectstream.replay")

#: Seconds of samples pushed at once (per stream).
CHUNK_S = 0.25


def _channel_types(st: XdfStream) -> list[str]:
    types = [st.type] * len(st.channels)
    try:
        for i, ch in enumerate(st.desc["channels"][0]["channel"][: len(types)]):
            if ch and ch.get("type"):
                types[i] = str(ch["type"][0])
    except (TypeError, KeyError, IndexError):
        pass
    return types


def make_xdf_outlets(streams: Sequence[XdfStream], source_id_suffix: str = "") -> list[Any]:
    """One LSL outlet per stream with the stream's header (``source_id`` plus
    ``source_id_suffix``; a stream without one gets ``xdf-<stream id>``)."""
    import pylsl

    formats = {
        "float32": pylsl.cf_float32,
        "double64": pylsl.cf_double64,
        "string": pylsl.cf_string,
        "int8": pylsl.cf_int8,
        "int16": pylsl.cf_int16,
        "int32": pylsl.cf_int32,
        "int64": pylsl.cf_int64,
    }
    outlets = []
    for st in streams:
        info = pylsl.StreamInfo(
            st.name,
            st.type,
            len(st.channels),
            st.nominal_srate,
            formats.get(st.channel_format, pylsl.cf_double64),
            (st.source_id or f"xdf-{st.stream_id}") + source_id_suffix,
        )
        chans = info.desc().append_child("channels")
        for lab, unit, typ in zip(st.channels, st.units, _channel_types(st), strict=True):
            ch = chans.append_child("channel")
            ch.append_child_value("label", lab)
            ch.append_child_value("unit", unit)
            ch.append_child_value("type", typ)
        outlets.append(pylsl.StreamOutlet(info, chunk_size=0, max_buffered=360))
    return outlets


def _values(st: XdfStream, a: int, b: int) -> list[list[Any]]:
    if st.is_string:
        return [[str(v) for v in row] for row in st.time_series[a:b]]
    x = st.time_series[a:b]
    if st.channel_format.startswith("int"):
        return list(np.rint(x).astype(np.int64).tolist())
    return list(x.tolist())


async def publish_xdf_lsl(
    path: str | Path,
    speed: float = 1.0,
    source_id_suffix: str = "",
    wait_for_consumers_s: float = 10.0,
    linger_s: float = 2.0,
) -> int:
    """Push every stream of the XDF file at ``path`` through its own LSL outlet, each sample at
    its recorded time relative to the file's first sample, mapped onto this machine's LSL clock
    now; ``speed`` times real time (0: as fast as possible, the timestamps still relative).
    Empty streams get an outlet and no samples. Waits up to ``wait_for_consumers_s`` for a
    consumer on every outlet with samples. Returns the number of chunks pushed."""
    import pylsl

    streams = read_xdf_streams(path)
    outlets = make_xdf_outlets(streams, source_id_suffix)
    with_samples = [o for o, st in zip(outlets, streams, strict=True) if st.n_samples]
    deadline = time.monotonic() + wait_for_consumers_s
    while time.monotonic() < deadline and not all(o.have_consumers() for o in with_samples):
        await asyncio.sleep(0.05)
    firsts = [float(st.time_stamps[0]) for st in streams if st.n_samples]
    if not firsts:
        return 0
    t_first = min(firsts)
    lsl0 = pylsl.local_clock()
    chunks = []  # (relative time of the chunk's last sample, stream index, a, b)
    for i, st in enumerate(streams):
        rel = st.time_stamps - t_first
        edges = np.searchsorted(rel, np.arange(0.0, rel[-1] + CHUNK_S, CHUNK_S)[1:], side="left")
        bounds: Sequence[int] = (
            np.unique(np.r_[0, edges, st.n_samples]).tolist() if st.n_samples else []
        )
        for a, b in itertools.pairwise(bounds):
            if b > a:
                chunks.append((float(rel[b - 1]), i, int(a), int(b)))
    chunks.sort()
    wall0 = time.perf_counter()
    for n, (t_rel, i, a, b) in enumerate(chunks, start=1):
        if speed > 0:
            lag = t_rel / speed - (time.perf_counter() - wall0)
            if lag > 0:
                await asyncio.sleep(lag)
        st = streams[i]
        ts = (lsl0 + (st.time_stamps[a:b] - t_first)).tolist()
        outlets[i].push_chunk(_values(st, a, b), ts)
        if speed == 0 and n % 16 == 0:
            await asyncio.sleep(0)
    log.info("replayed %s: %d streams, %d chunks", path, len(streams), len(chunks))
    await asyncio.sleep(linger_s)
    return len(chunks)
