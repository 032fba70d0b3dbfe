from __future__ import annotations

import numpy as np
import pytest

from affectstream.data import RecordingFormatError, detect_format, load_recordings


def write_long(path, n_records=3, length=600, labels=None, subjects=True, header=None):
    labels = labels or ["anger", "calmness", "fear"]
    rows = [header or ("ECG,GSR,TEMP,label,subject" if subjects else "ECG,GSR,TEMP,label")]
    rng = np.random.default_rng(0)
    for k in range(n_records):
        for _ in range(length):
            vals = (
                f"{rng.standard_normal():.4f},{2 + rng.random():.4f},33.1,{labels[k % len(labels)]}"
            )
            rows.append(vals + (f",p{k // 2}" if subjects else ""))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_reads_records_with_labels_and_subjects(tmp_path):
    f = write_long(tmp_path / "long.csv")
    assert detect_format(f, record_length=600) == "long-csv"
    recs = load_recordings(f, record_length=600, fs=300.0)
    assert len(recs) == 3
    assert [r.subject for r in recs] == ["p0", "p0", "p1"]
    assert recs[1].labels[0].label == "calmness" and recs[1].duration == pytest.approx(2.0)
    assert set(recs[0].signals) == {"ecg", "eda", "temp"}
    assert recs[0].signals["eda"].channels == ("GSR",)


def test_without_subject_column_records_have_no_subject(tmp_path):
    recs = load_recordings(
        write_long(tmp_path / "l.csv", subjects=False), record_length=600, fs=300.0
    )
    assert all(r.subject is None for r in recs)


def test_label_changing_inside_a_record_names_the_row(tmp_path):
    f = write_long(tmp_path / "l.csv")
    lines = f.read_text().splitlines()
    lines[100] = lines[100].replace("anger", "fear")
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingFormatError, match=r"label changes.*inside record 0") as err:
        load_recordings(f, record_length=600, fs=300.0)
    assert "line 101" in str(err.value)


def test_rows_not_a_multiple_of_the_record_length(tmp_path):
    f = write_long(tmp_path / "l.csv")
    with pytest.raises(RecordingFormatError, match="not a whole number of 700-sample records"):
        load_recordings(f, record_length=700, fs=300.0)


def test_long_format_needs_length_and_rate(tmp_path):
    f = write_long(tmp_path / "l.csv")
    with pytest.raises(RecordingFormatError, match="--record-length"):
        load_recordings(f, fmt="long-csv")


def test_unknown_column_and_missing_header(tmp_path):
    f = write_long(tmp_path / "l.csv", header="ECG,FOO,TEMP,label,subject")
    with pytest.raises(RecordingFormatError, match="'FOO' is not a known modality"):
        load_recordings(f, record_length=600, fs=300.0)
    g = tmp_path / "noheader.csv"
    g.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(RecordingFormatError, match="holds numbers, not column names"):
        load_recordings(g, record_length=1, fs=300.0)
