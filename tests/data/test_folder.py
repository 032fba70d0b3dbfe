"""Folders of recordings of one kind read as a data set: CSV per person, ``.npz``, XDF, EDF;
the subject from a column, the file name or a pattern; errors that name the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from affectstream.data import RecordingFormatError, detect_format, load_recordings, save_npz
from affectstream.data.e4 import read_e4_folder
from tests.conftest import shared_path


def person_csv(path, subject: str | None, hr_every: int = 4, extra: str = "") -> None:
    """60 s at 4 Hz of ``time, hr, temp, eda, label[, subject]``; hr on every 4th row."""
    t = 1000.0 + np.arange(240) / 4
    head = "time,hr,temp,eda,label" + (",subject" if subject else "") + extra
    rows = [head]
    for i, ti in enumerate(t):
        hr = f"{70 + (i // 4) % 5}" if i % hr_every == 0 else ""
        lab = "rest" if ti < 1030 else "task"
        tail = (f",{subject}" if subject else "") + ("," if extra else "")
        rows.append(f"{ti:.2f},{hr},33.1,{1 + i / 1000:.4f},{lab}{tail}")
    path.write_text("\n".join(rows) + "\n")


def test_csv_folder_subject_from_column_name_or_pattern(tmp_path):
    for s in ("P01", "P02"):
        person_csv(tmp_path / f"{s.lower()}_day1.csv", s)
    assert detect_format(tmp_path) == "folder"
    recs = load_recordings(tmp_path)
    assert [(r.subject, r.session) for r in recs] == [("P01", "p01_day1"), ("P02", "p02_day1")]
    hr = recs[0].signals["hr"]  # a 1 Hz column in a 4 Hz table: its own rate
    assert hr.fs == 1.0 and hr.n_samples == 60 and hr.timestamps is None and hr.unit == "bpm"
    assert recs[0].signals["eda"].fs == 4.0 and recs[0].label_seconds() == {"rest": 30, "task": 30}
    named = load_recordings(tmp_path, subject_pattern=r"p(\d+)_")
    assert [r.subject for r in named] == ["01", "02"]
    with pytest.raises(RecordingFormatError, match=r"p01_day1.csv: the subject pattern 'q\\d'"):
        load_recordings(tmp_path, subject_pattern=r"q\d")


def test_csv_folder_without_subject_column_takes_the_file_name(tmp_path):
    person_csv(tmp_path / "anna.csv", None)
    person_csv(tmp_path / "ben.csv", None)
    assert [r.subject for r in load_recordings(tmp_path)] == ["anna", "ben"]


def test_csv_folder_with_mixed_columns_names_the_file_and_what_to_do(tmp_path):
    person_csv(tmp_path / "a.csv", "a")
    person_csv(tmp_path / "b.csv", "b", extra=",bvp")
    with pytest.raises(
        RecordingFormatError, match=r"b.csv, line 1: its columns .* adds \['bvp'\].*same columns"
    ):
        load_recordings(tmp_path)


def test_a_csv_with_several_people_says_to_split_it(tmp_path):
    f = tmp_path / "all.csv"
    f.write_text("time,eda,subject\n0,1,a\n0.25,1,a\n0.5,1,b\n")
    with pytest.raises(RecordingFormatError, match=r"holds 2 subjects.*one file per person"):
        load_recordings(f)


def test_npz_folder_and_format_npz_on_a_folder(tmp_path, excerpt):
    for i in range(2):
        part = excerpt.slice_time(excerpt.start_time + 60 * i, excerpt.start_time + 60 * (i + 1))
        part.subject, part.session = f"S{i}", f"sess{i}"
        save_npz(part, tmp_path / f"r{i}.npz")
    (tmp_path / "README.txt").write_text("not a recording")
    recs = load_recordings(tmp_path)
    assert [(r.subject, r.session) for r in recs] == [("S0", "sess0"), ("S1", "sess1")]
    assert [r.subject for r in load_recordings(tmp_path, fmt="npz")] == ["S0", "S1"]
    with pytest.raises(RecordingFormatError, match="no xdf recordings in the folder"):
        load_recordings(tmp_path, fmt="xdf")


def test_plain_numpy_npz_is_named_as_such(tmp_path):
    np.savez(tmp_path / "x.npz", eda=np.ones(4))
    with pytest.raises(
        RecordingFormatError,
        match=r"x.npz: a NumPy .npz without the affectstream header \(it holds the arrays eda\)",
    ):
        load_recordings(tmp_path / "x.npz")


def test_a_folder_of_several_kinds_asks_for_one(tmp_path, excerpt):
    person_csv(tmp_path / "a.csv", "a")
    save_npz(excerpt.slice_time(excerpt.start_time, excerpt.start_time + 60), tmp_path / "b.npz")
    with pytest.raises(RecordingFormatError, match=r"several kinds: 1 csv.*1 npz.*--format"):
        load_recordings(tmp_path)
    assert len(load_recordings(tmp_path, fmt="time-csv")) == 1


def test_data_info_lists_each_file(tmp_path, capsys):
    from affectstream.tools.cli import main

    for s in ("P01", "P02"):
        person_csv(tmp_path / f"{s}.csv", s)
    assert main(["data", "info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "folder, 2 recording(s), 2 subject(s)" in out
    assert "P01.csv (P01)" in out and "P02.csv (P02)" in out and "hr 1Hz" in out
    assert main(["data", "info", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["source"] for r in doc["recordings"]] == [
        str(tmp_path / "P01.csv"),
        str(tmp_path / "P02.csv"),
    ]


def test_e4_folder_reads_hr_and_ibi():
    folder = shared_path("stress_predict", "Raw_data", "S02")
    if not folder.is_dir():
        pytest.skip(f"Stress-Predict is not at {folder}")
    rec = read_e4_folder(folder)
    ibi, hr = rec.signals["ibi"], rec.signals["hr"]
    lines = (folder / "IBI.csv").read_text().splitlines()
    start = float(lines[0].split(",")[0])
    first = [float(c) for c in lines[1].split(",")]
    assert ibi.n_samples == len(lines) - 1 and ibi.unit == "s" and ibi.timestamps is not None
    assert ibi.timestamps[0] == start + first[0] and ibi.data[0, 0] == first[1]
    assert hr.fs == 1.0 and hr.unit == "bpm"
