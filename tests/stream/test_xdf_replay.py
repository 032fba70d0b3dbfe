"""``replay FILE.xdf --to lsl`` re-creates the streams the file recorded: names, types, channel
formats and metadata, every sample, string markers, and the relative timing."""

from __future__ import annotations

import asyncio
import threading
import uuid

import numpy as np
import pytest

from affectstream.data.xdf import read_xdf_streams
from affectstream.stream.xdf_replay import publish_xdf_lsl
from tests.conftest import shared_path
from tests.data.test_xdf import e4_as_xdf

pylsl = pytest.importorskip("pylsl")
pytest.importorskip("pyxdf")


def receive_all(path, suffix: str) -> dict[str, tuple]:
    """Replay ``path`` and pull each of its streams (source_id + ``suffix``):
    source_id -> (info, samples, timestamps)."""
    source_ids = [st.source_id or f"xdf-{st.stream_id}" for st in read_xdf_streams(path)]
    got: dict[str, tuple] = {}
    ready = threading.Event()
    done = threading.Event()

    def consume():
        found = []
        for sid in source_ids:
            found += pylsl.resolve_byprop("source_id", sid + suffix, 1, 20.0)
        inlets = [pylsl.StreamInlet(i, max_buflen=60, recover=False) for i in found]
        for inl in inlets:
            inl.open_stream(timeout=5)
        infos = {id(inl): inl.info(timeout=5) for inl in inlets}  # with desc, while it is there
        ready.set()
        data = {id(inl): ([], []) for inl in inlets}
        idle = 0
        while idle < 40 or not done.is_set():
            moved = False
            for inl in inlets:
                try:
                    x, ts = inl.pull_chunk(timeout=0.0, max_samples=4096)
                except pylsl.util.LostError:  # the outlet went away after the replay: all is here
                    continue
                if ts:
                    data[id(inl)][0].extend(x)
                    data[id(inl)][1].extend(ts)
                    moved = True
            idle = 0 if moved else idle + 1
            threading.Event().wait(0.02)
        for inl in inlets:
            info = infos[id(inl)]
            got[info.source_id()] = (info, *data[id(inl)])

    th = threading.Thread(target=consume)
    th.start()
    asyncio.run(publish_xdf_lsl(path, speed=0, source_id_suffix=suffix, linger_s=1.0))
    done.set()
    th.join(30)
    assert ready.is_set()
    return got


def channel_meta(info) -> list[tuple[str, str, str]]:
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit"), ch.child_value("type")))
        ch = ch.next_sibling()
    return out


def test_a_real_session_recorded_as_xdf_replays_as_its_streams(excerpt, tmp_path):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 120)
    path = e4_as_xdf(rec, tmp_path / "S13.xdf")
    streams = read_xdf_streams(path)
    suffix = f"@{uuid.uuid4().hex[:8]}"
    got = receive_all(path, suffix)
    assert len(got) == len(streams)
    t_first = min(st.time_stamps[0] for st in streams)
    lsl_first = min(ts[0] for _, _, ts in got.values())
    for st in streams:
        info, x, ts = got[(st.source_id or f"xdf-{st.stream_id}") + suffix]
        assert (info.name(), info.type(), info.nominal_srate()) == (
            st.name,
            st.type,
            st.nominal_srate,
        )
        assert info.channel_count() == len(st.channels)
        assert [m[0] for m in channel_meta(info)] == list(st.channels)
        assert [m[1] for m in channel_meta(info)] == list(st.units)
        assert len(ts) == st.n_samples
        if st.is_string:
            assert [r[0] for r in x] == list(st.time_series[:, 0])
        else:
            np.testing.assert_array_equal(np.asarray(x, dtype=np.float64), st.time_series)
        # relative timing across all streams, as recorded
        np.testing.assert_allclose(np.asarray(ts) - lsl_first, st.time_stamps - t_first, atol=1e-6)


def test_minimal_xdf_keeps_int16_and_string_formats():
    path = shared_path("xdf_examples", "minimal.xdf")
    if not path.is_file():
        pytest.skip(f"the XDF example files are not at {path}")
    suffix = f"@{uuid.uuid4().hex[:8]}"
    got = receive_all(path, suffix)
    ((eeg_info, eeg, _),) = [v for k, v in got.items() if k.startswith("xdf-0")]
    ((mk_info, mk, mk_ts),) = [v for k, v in got.items() if k.startswith("xdf-46202862")]
    assert eeg_info.channel_format() == pylsl.cf_int16 and eeg[0] == [192, 255, 238]
    assert mk_info.channel_format() == pylsl.cf_string and [r[0] for r in mk[1:5]] == [
        "Hello",
        "World",
        "from",
        "LSL",
    ]
    assert np.diff(mk_ts) == pytest.approx(np.full(8, 0.1), abs=1e-6)
