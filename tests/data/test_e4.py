from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectstream.data import RecordingFormatError, detect_format, load_recordings
from affectstream.data.e4 import read_e4_csv, read_e4_dataset


def write_e4(folder: Path, start: float = 1.6e9, seconds: int = 30, **override: str) -> Path:
    """A small E4 export: BVP 64 Hz, EDA and TEMP 4 Hz; ``override`` replaces a file's text."""
    folder.mkdir(parents=True, exist_ok=True)
    t64 = np.arange(64 * seconds) / 64
    files = {
        "BVP.csv": (64, np.sin(2 * np.pi * 1.2 * t64) * 50),
        "EDA.csv": (4, np.linspace(0.5, 0.8, 4 * seconds)),
        "TEMP.csv": (4, np.full(4 * seconds, 33.5)),
    }
    for name, (fs, x) in files.items():
        text = override.get(name) or f"{start:.2f}\n{fs:.6f}\n" + "\n".join(f"{v:.4f}" for v in x)
        (folder / name).write_text(text + "\n")
    return folder


def test_reads_an_e4_folder(tmp_path):
    rec = load_recordings(write_e4(tmp_path / "P07"))[0]
    assert detect_format(tmp_path / "P07") == "e4-folder"
    assert rec.subject == "P07" and set(rec.signals) == {"bvp", "eda", "temp"}
    assert rec.signals["bvp"].fs == 64.0 and rec.signals["eda"].n_samples == 120
    assert rec.duration == pytest.approx(30.0)


def test_dataset_root_with_per_second_labels(tmp_path):
    for s in ("S01", "S02"):
        write_e4(tmp_path / "Raw_data" / s)
    rows = ["Participant,HR,respr,Time(sec),Label"]
    rows += [f"2,70,12,{1.6e9 + i:.0f},{int(10 <= i < 20)}" for i in range(30)]
    (tmp_path / "Processed_data").mkdir()
    (tmp_path / "Processed_data" / "labels_binary.csv").write_text("\n".join(rows) + "\n")
    recs = read_e4_dataset(tmp_path)
    assert [r.subject for r in recs] == ["S01", "S02"]
    assert recs[0].labels == []
    assert recs[1].label_seconds() == {"non-stress": 20.0, "stress": 10.0}
    assert recs[1].label_covering(1.6e9 + 10, 1.6e9 + 20) == "stress"
    assert recs[1].label_covering(1.6e9 + 5, 1.6e9 + 15) is None


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        ("1600000000\n\n1\n2\n", 2, "sampling rate"),
        ("1600000000\n0\n1\n2\n", 2, "sampling rate"),
        ("1600000000\n4\n1\nabc\n3\n", 4, "'abc', which is not a number"),
        ("1600000000\n4\n1\n2,3\n3\n", 4, "2 cells"),
        ("1600000000\n4\n" + "1\n" + "nan\n" * 20 + "1\n", 4, "missing or non-finite"),
        ("1600000000\n", 2, "start-time line and a sampling-rate line"),
    ],
)
def test_malformed_e4_csv_names_file_line_and_problem(tmp_path, text, line, match):
    f = tmp_path / "EDA.csv"
    f.write_text(text)
    with pytest.raises(RecordingFormatError, match=match) as err:
        read_e4_csv(f)
    assert str(f) in str(err.value) and f"line {line}" in str(err.value)


def test_short_nan_runs_are_kept_as_missing(tmp_path):
    f = tmp_path / "EDA.csv"
    f.write_text("1600000000\n4\n1\nnan\n\n3\n")  # an empty cell counts as missing too
    _, fs, data = read_e4_csv(f)
    assert fs == 4.0 and np.isnan(data[1, 0]) and np.isnan(data[2, 0]) and data[3, 0] == 3.0


def test_not_an_e4_folder(tmp_path):
    with pytest.raises(RecordingFormatError, match="unknown recording format"):
        load_recordings(tmp_path)


def test_real_stress_predict_dataset(stress_predict):
    recs = load_recordings(stress_predict)
    assert len(recs) == 25
    labelled = [r for r in recs if r.labels]
    assert len(labelled) == 24 and "S01" not in {r.subject for r in labelled}
    for r in recs:
        assert r.signals["bvp"].fs == 64.0 and r.signals["eda"].fs == 4.0
        assert 50 * 60 <= r.duration <= 60 * 60
    s02 = next(r for r in recs if r.subject == "S02")
    assert s02.label_seconds() == {"non-stress": 2396.0, "stress": 1161.0}
