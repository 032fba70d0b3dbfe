"""The XDF reader on the XDF project's own example files (what their README states) and on an
XDF file written from a real E4 session."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.data import RecordingFormatError, detect_format, load_recordings
from affectstream.data.markers import markers_to_labels, parse_marker_map
from affectstream.data.xdf import read_xdf, read_xdf_streams
from affectstream.data.xdf_write import XdfStreamSpec, write_xdf
from tests.conftest import shared_path

pytest.importorskip("pyxdf")


@pytest.fixture(scope="module")
def xdf_examples():
    p = shared_path("xdf_examples")
    if not (p / "minimal.xdf").is_file():
        pytest.skip(f"the XDF example files are not at {p}")
    return p


def test_minimal_streams_samples_and_clock_offsets(xdf_examples):
    streams = read_xdf_streams(xdf_examples / "minimal.xdf")
    assert [(s.stream_id, s.name, s.type) for s in streams] == [
        (0, "SendDataC", "EEG"),
        (46202862, "SendDataString", "StringMarker"),
    ]
    eeg, markers = streams
    assert eeg.n_samples == 9 and eeg.time_series.shape == (9, 3)
    assert eeg.nominal_srate == 10.0 and eeg.channel_format == "int16"
    # the README's table: 5.1 .. 5.9 s, shifted by the stream's clock offset of -0.1 s
    np.testing.assert_allclose(eeg.time_stamps, np.arange(9) / 10 + 5.0, atol=1e-9)
    np.testing.assert_array_equal(
        eeg.time_series[:3], [[192, 255, 238], [12, 22, 32], [13, 23, 33]]
    )
    # the marker stream has no clock offsets: its times stay as recorded
    np.testing.assert_allclose(markers.time_stamps, np.arange(9) / 10 + 5.1, atol=1e-9)
    assert list(markers.time_series[1:5, 0]) == ["Hello", "World", "from", "LSL"]


def test_clock_resets_are_segmented_and_synchronised(xdf_examples):
    streams = read_xdf_streams(xdf_examples / "clock_resets.xdf")
    assert [(s.name, s.n_samples) for s in streams] == [("MyMarkerStream", 175), ("BioSemi", 27815)]
    markers, eeg = streams
    assert eeg.time_series.shape == (27815, 8)
    # first and last samples of the README's tables, each with the offset of its clock segment
    # (-652340.284 s before the reset, +1121.166 s after it)
    assert eeg.time_stamps[0] == pytest.approx(653150.314061 - 652340.28384, abs=2e-3)
    assert eeg.time_stamps[-1] == pytest.approx(262.018644 + 1121.16563, abs=2e-3)
    assert markers.time_stamps[0] == pytest.approx(653153.2121885 - 652340.2838639501, abs=1e-3)
    assert markers.time_stamps[-1] == pytest.approx(259.6538279 + 1121.165595, abs=1e-3)
    assert list(markers.time_series[[0, 1, -1], 0]) == ["XXX", "Test", "XXX"]
    # after the reset handling the clock runs forward across the reset
    assert np.all(np.diff(eeg.time_stamps) > 0) and np.all(np.diff(markers.time_stamps) > 0)
    assert len(eeg.segments) == 2 and eeg.segments[0][0] == 0 and eeg.segments[-1][1] == 27814


def test_empty_streams_beside_ones_with_samples(xdf_examples):
    streams = read_xdf_streams(xdf_examples / "empty_streams.xdf")
    counts = {s.name: s.n_samples for s in streams}
    assert counts == {
        "ctrl": 1,
        "Empty marker stream: test stream 0 counter": 0,
        "Empty data stream: test stream 0 counter": 0,
        "Data stream: test stream 0 counter": 10,
    }
    data = next(s for s in streams if s.name.startswith("Data stream"))
    assert data.channels == ("ch:00",)
    np.testing.assert_array_equal(data.time_series[:, 0], np.arange(10))
    assert data.time_stamps[0] == pytest.approx(91725.21394789348, abs=1e-3)
    assert np.diff(data.time_stamps) == pytest.approx(np.ones(9), abs=1e-4)


def test_streams_of_no_known_modality_are_named(xdf_examples):
    with pytest.raises(
        RecordingFormatError, match=r"minimal.xdf: no stream of a known.*'SendDataC'"
    ):
        read_xdf(xdf_examples / "minimal.xdf")


def test_truncated_chunk_names_the_file_the_byte_and_what_to_do(xdf_examples, tmp_path):
    data = (xdf_examples / "clock_resets.xdf").read_bytes()
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        RecordingFormatError, match=r"cut.xdf: truncated XDF chunk at byte \d+.*re-copy"
    ):
        load_recordings(cut)
    not_xdf = tmp_path / "n.xdf"
    not_xdf.write_bytes(b"hello")
    with pytest.raises(RecordingFormatError, match="not an XDF file"):
        read_xdf_streams(not_xdf)


def e4_as_xdf(rec, path, offset=100.0, marker_map=False):
    """Write ``rec`` as LabRecorder would: each signal one stream on a sender clock ``offset``
    seconds behind the recorder's, clock offsets every 5 s, labels as a marker stream."""
    specs = []
    for m, typ in (("bvp", "PPG"), ("eda", "GSR"), ("temp", "skin temperature")):
        s = rec.signals[m]
        offs = [(s.start_time - offset + 5 * i, offset) for i in range(int(s.duration // 5))]
        name = "Temperature" if m == "temp" else m.upper()
        specs.append(
            XdfStreamSpec(
                name, typ, s.times() - offset, s.data, s.fs, "float32", [m], [s.unit], offs
            )
        )
    times, marks = [], []
    for iv in rec.labels:
        if marker_map:
            times += [iv.start - offset]
            marks += [{"stress": "task begins", "non-stress": "rest begins"}[iv.label]]
        else:
            times += [iv.start - offset, iv.end - offset - 1e-3]
            marks += [f"{iv.label}:start", f"{iv.label}:end"]
    offs = [(rec.start_time - offset + 5 * i, offset) for i in range(int(rec.duration // 5))]
    specs.append(
        XdfStreamSpec(
            "Markers", "Markers", np.array(times), marks, 0.0, "string", clock_offsets=offs
        )
    )
    specs.append(
        XdfStreamSpec("EEG", "EEG", rec.start_time - offset + np.arange(5.0), np.zeros((5, 2)), 1.0)
    )
    write_xdf(path, specs)
    return path


def test_physiological_xdf_from_a_real_session(excerpt, tmp_path):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 900)
    f = e4_as_xdf(rec, tmp_path / "S13.xdf")
    assert detect_format(f) == "xdf"
    back = load_recordings(f, subject_pattern=r"S\d+")[0]
    assert back.subject == "S13" and back.session == "S13"
    assert list(back.signals) == ["bvp", "eda", "temp"]  # by type, by type, by name
    for m, s in rec.signals.items():
        b = back.signals[m]
        assert b.fs == s.fs and b.n_samples == s.n_samples and b.timestamps is None
        assert b.start_time == pytest.approx(s.start_time, abs=1e-5)  # offsets applied
        np.testing.assert_array_equal(b.data, s.data.astype(np.float32))
    assert [iv.label for iv in back.labels] == [iv.label for iv in rec.labels]
    for a, b in zip(back.labels, rec.labels, strict=True):
        assert a.start == pytest.approx(b.start, abs=1e-5) and a.end == pytest.approx(
            b.end, abs=2e-3
        )
    assert any("'EEG'" in s and "no known modality" in s for s in back.meta["skipped_streams"])


def test_marker_map_turns_plain_markers_into_states(excerpt, tmp_path):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 900)
    f = e4_as_xdf(rec, tmp_path / "m.xdf", marker_map=True)
    assert load_recordings(f)[0].labels == []  # plain markers mean nothing by themselves
    mapping = parse_marker_map(["task begins=stress", "rest begins=non-stress"])
    back = load_recordings(f, marker_map=mapping)[0]
    assert [iv.label for iv in back.labels] == [iv.label for iv in rec.labels]
    assert back.labels[-1].end == pytest.approx(back.end_time)  # the last state runs to the end


def test_marker_convention():
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    m = ["rest:start", "noise", "rest:end", "task:start", "rest:START", "x"]
    got = markers_to_labels(t, m, 10.0)
    assert [(iv.label, iv.start, iv.end) for iv in got] == [
        ("rest", 1.0, 3.0),
        ("task", 4.0, 5.0),  # closed by the next start
        ("rest", 5.0, 10.0),  # closed by the end
    ]
    with pytest.raises(ValueError, match="MARKER=LABEL"):
        parse_marker_map(["no equals sign"])
