"""The EDF/EDF+/BDF reader on files written by pyedflib's own writer from real recordings: the
MIT-BIH record 100 (two ECG leads, 360 Hz) and an E4 session (BVP 64 Hz, EDA and TEMP 4 Hz, its
labels as EDF+ annotations)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from affectstream.data import RecordingFormatError, detect_format, load_recordings

pyedflib = pytest.importorskip("pyedflib")


def write_edf(path, signals, start, annotations=(), file_type=None):
    """``signals``: (label, dimension, fs, samples); physical range rounded outwards to what
    EDF's 8-character fields hold."""
    w = pyedflib.EdfWriter(
        str(path), len(signals), file_type=file_type or pyedflib.FILETYPE_EDFPLUS
    )
    w.setSignalHeaders(
        [
            {
                "label": lab,
                "dimension": dim,
                "sample_frequency": fs,
                "physical_min": float(np.floor(x.min() * 100) / 100),
                "physical_max": float(np.ceil(x.max() * 100) / 100),
                "digital_min": -32768 if file_type != pyedflib.FILETYPE_BDFPLUS else -8388608,
                "digital_max": 32767 if file_type != pyedflib.FILETYPE_BDFPLUS else 8388607,
            }
            for lab, dim, fs, x in signals
        ]
    )
    w.setStartdatetime(dt.datetime.fromtimestamp(start, dt.UTC).replace(tzinfo=None))
    w.writeSamples([x for *_, x in signals])
    for onset, duration, text in annotations:
        w.writeAnnotation(onset, duration, text)
    w.close()
    return path


@pytest.fixture(scope="module")
def e4_edf(excerpt, tmp_path_factory):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 900)
    n = int(rec.duration)
    sigs = [
        ("PPG", "", 64.0, rec.signals["bvp"].data[: n * 64, 0]),
        ("GSR", "uS", 4.0, rec.signals["eda"].data[: n * 4, 0]),
        ("Skin", "degC", 4.0, rec.signals["temp"].data[: n * 4, 0]),  # by its dimension
        ("Marker", "", 4.0, np.arange(n * 4) % 2.0),
    ]
    ann = [(iv.start - rec.start_time, iv.duration, iv.label) for iv in rec.labels]
    path = tmp_path_factory.mktemp("edf") / "S13.edf"
    return rec, write_edf(path, sigs, round(rec.start_time), ann)


def test_e4_session_as_edf_plus(e4_edf):
    rec, path = e4_edf
    assert detect_format(path) == "edf"
    back = load_recordings(path)[0]
    assert list(back.signals) == ["bvp", "eda", "temp"]
    assert back.signals["eda"].unit == "uS" and back.signals["temp"].channels == ("Skin",)
    assert back.start_time == round(rec.start_time)
    for m, s in back.signals.items():
        ref = rec.signals[m].data[: s.n_samples, 0]
        step = np.ptp(ref) / 65535  # one digital step of the 16-bit range
        assert (
            s.fs == rec.signals[m].fs and np.max(np.abs(s.data[:, 0] - ref)) <= 1.01 * step + 0.01
        )
    assert [(iv.label, iv.duration) for iv in back.labels] == [
        (iv.label, pytest.approx(iv.duration, abs=1e-3)) for iv in rec.labels
    ]
    assert back.meta["skipped_signals"] == ["'Marker' (no unit, 4 Hz): no known modality"]


def test_mitdb_100_as_bdf(mitdb_100, tmp_path):
    wf = load_recordings(mitdb_100)[0]
    ecg = wf.signals["ecg"]
    n = 360 * 120
    sigs = [(c, "mV", 360.0, ecg.data[:n, j]) for j, c in enumerate(ecg.channels)]
    ann = [(10.0, 0, "rest:start"), (70.0, 0, "rest:end")]
    path = write_edf(tmp_path / "100.bdf", sigs, 0, ann, pyedflib.FILETYPE_BDFPLUS)
    back = load_recordings(path)[0]
    assert list(back.signals) == ["ecg"] and back.signals["ecg"].channels == ("MLII", "V5")
    np.testing.assert_allclose(back.signals["ecg"].data, ecg.data[:n], atol=1e-5)
    assert [(iv.label, iv.start, iv.end) for iv in back.labels] == [("rest", 10.0, 70.0)]


def test_wrong_header_names_the_file_and_what_to_do(e4_edf, tmp_path):
    _, path = e4_edf
    data = bytearray(path.read_bytes())
    data[184:192] = b"xx      "  # the header's byte count
    bad = tmp_path / "bad.edf"
    bad.write_bytes(bytes(data))
    with pytest.raises(RecordingFormatError, match=r"bad.edf: not a readable EDF/BDF file.*header"):
        load_recordings(bad)
