from __future__ import annotations

import numpy as np
import pytest

from affectstream.data import (
    Recording,
    RecordingFormatError,
    Signal,
    detect_format,
    load_npz,
    load_recordings,
    save_npz,
)
from affectstream.data.recording import LabelInterval, canonical_modality


def test_time_csv_regular_and_irregular(tmp_path):
    t = 100 + np.arange(200) / 50.0
    rows = ["time,ppg,gsr,label"] + [
        f"{ti:.4f},{np.sin(ti):.4f},2.0,{'rest' if ti < 102 else 'task'}" for ti in t
    ]
    f = tmp_path / "s.csv"
    f.write_text("\n".join(rows) + "\n")
    assert detect_format(f) == "time-csv"
    rec = load_recordings(f)[0]
    assert rec.signals["bvp"].fs == pytest.approx(50.0) and rec.signals["bvp"].timestamps is None
    assert rec.label_seconds() == pytest.approx({"rest": 2.0, "task": 2.0})
    jitter = t + np.r_[0, np.random.default_rng(0).uniform(-0.004, 0.004, 198), 0]
    g = tmp_path / "j.csv"
    g.write_text("\n".join(["t,eda"] + [f"{ti:.5f},1.0" for ti in jitter]) + "\n")
    assert load_recordings(g)[0].signals["eda"].timestamps is not None


def test_time_csv_going_backwards_names_the_row(tmp_path):
    f = tmp_path / "b.csv"
    f.write_text("time,eda\n0,1\n0.25,1\n0.2,1\n")
    with pytest.raises(RecordingFormatError, match=r"line 4.*must increase"):
        load_recordings(f)


def test_csv_without_time_column_explains_the_options(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("ecg,label\n1,a\n")
    with pytest.raises(RecordingFormatError, match="--record-length"):
        detect_format(f)


def test_wfdb_record(mitdb_100):
    rec = load_recordings(mitdb_100)[0]
    assert detect_format(str(mitdb_100) + ".hea") == "wfdb"
    ecg = rec.signals["ecg"]
    assert ecg.channels == ("MLII", "V5") and ecg.fs == 360.0 and ecg.n_samples == 650000
    assert rec.subject is None


def test_npz_round_trip(tmp_path, excerpt):
    save_npz(excerpt, tmp_path / "r.npz")
    back = load_npz(tmp_path / "r.npz")
    assert back.subject == "S13" and back.labels == excerpt.labels
    for k, s in excerpt.signals.items():
        assert np.array_equal(back.signals[k].data, s.data)
    ts = np.array([0.0, 0.1, 0.25])
    rec = Recording({"eda": Signal(np.ones(3), 10.0, 0.0, ("eda",), ts)}, subject="a")
    save_npz(rec, tmp_path / "i.npz")
    assert np.array_equal(load_npz(tmp_path / "i.npz").signals["eda"].timestamps, ts)


def test_damaged_npz(tmp_path):
    f = tmp_path / "bad.npz"
    f.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RecordingFormatError, match="damaged recording"):
        load_npz(f)


def test_recording_invariants():
    with pytest.raises(ValueError, match="must increase strictly"):
        Signal(np.ones(3), 1.0, 0.0, ("x",), np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="one name per column"):
        Signal(np.ones((3, 2)), 1.0, 0.0, ("x",))
    with pytest.raises(ValueError, match="overlaps"):
        Recording(
            {"eda": Signal(np.ones(3), 1.0, 0.0, ("eda",))},
            labels=[LabelInterval("a", 0, 2), LabelInterval("b", 1, 3)],
        )
    assert canonical_modality("GSR") == "eda" and canonical_modality("PPG_green") == "bvp"
    assert canonical_modality("weight") is None
