"""Hypothesis fuzzing of every file reader: garbage in gives RecordingFormatError, never a crash
of another kind."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affectstream.data import RecordingFormatError, load_npz, load_recordings
from affectstream.data.e4 import read_e4_csv

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["", "nan", "x", "1e309", " 3 ", "-", "1,2"]),
    st.text(alphabet="0123456789.,-eE ", max_size=6),
)
rows = st.lists(st.lists(cells, min_size=1, max_size=4).map(",".join), max_size=40)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(rows)
def test_e4_csv_reader(tmp_path, lines):
    f = tmp_path / "EDA.csv"
    f.write_text("\n".join(lines))
    try:
        start, fs, data = read_e4_csv(f)
    except RecordingFormatError:
        return
    assert fs > 0 and np.isfinite(start) and data.ndim == 2


@FUZZ
@given(rows, st.sampled_from(["ECG,GSR,label", "time,eda,label", "t,bvp", "ECG,label,subject"]))
def test_csv_readers(tmp_path, lines, header):
    f = tmp_path / "x.csv"
    f.write_text("\n".join([header, *lines]))
    for kwargs in ({}, {"record_length": 2, "fs": 100.0}):
        try:
            recs = load_recordings(f, **kwargs)
        except RecordingFormatError:
            continue
        for r in recs:
            for s in r.signals.values():
                assert s.fs > 0 and s.data.ndim == 2


@FUZZ
@given(st.binary(max_size=3000))
def test_npz_reader(tmp_path, blob):
    f = tmp_path / "r.npz"
    f.write_bytes(blob)
    with contextlib.suppress(RecordingFormatError):
        load_npz(f)


@FUZZ
@given(st.text(max_size=300), st.binary(max_size=600))
def test_wfdb_reader(tmp_path, header, signal_bytes):
    (tmp_path / "rec.hea").write_text(header)
    (tmp_path / "rec.dat").write_bytes(signal_bytes)
    try:
        recs = load_recordings(tmp_path / "rec")
    except RecordingFormatError:
        return
    assert all(s.fs > 0 for r in recs for s in r.signals.values())


def _mutated(blob: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    b = bytearray(blob)
    for pos, val in edits:
        b[pos % len(b)] = val
    return bytes(b[: max(1, len(b) - cut)])


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)


@FUZZ
@given(edits, st.integers(0, 400))
def test_xdf_reader_on_damaged_example_file(tmp_path, changes, cut):
    """The XDF project's minimal file with bytes changed and its end cut off."""
    from tests.conftest import shared_path

    src = shared_path("xdf_examples", "minimal.xdf")
    if not src.is_file():
        return
    from affectstream.data.xdf import read_xdf_streams

    f = tmp_path / "m.xdf"
    f.write_bytes(_mutated(src.read_bytes(), changes, cut))
    try:
        streams = read_xdf_streams(f)
    except RecordingFormatError:
        return
    assert all(s.time_series.shape[0] == s.n_samples for s in streams)


@FUZZ
@given(edits, st.integers(0, 400))
def test_edf_reader_on_damaged_file(tmp_path, changes, cut):
    """A small EDF+ file (written by pyedflib) with bytes changed and its end cut off."""
    import pyedflib

    f = tmp_path / "e.edf"
    w = pyedflib.EdfWriter(str(f), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders(
        [
            {
                "label": "GSR",
                "dimension": "uS",
                "sample_frequency": 4,
                "physical_min": 0,
                "physical_max": 10,
                "digital_min": -32768,
                "digital_max": 32767,
            }
        ]
    )
    w.writeSamples([np.linspace(1, 2, 40)])
    w.writeAnnotation(1.0, 2.0, "rest")
    w.close()
    f.write_bytes(_mutated(f.read_bytes(), changes, cut))
    with contextlib.suppress(RecordingFormatError):
        load_recordings(f)
