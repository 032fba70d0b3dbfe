from __future__ import annotations

import numpy as np

from affectstream.data.long_csv import read_long_csv
from affectstream.tools.replay_cmd import after


def test_one_persons_records_are_published_back_to_back(tmp_path):
    csv = tmp_path / "t.csv"
    rows = [f"{np.sin(i / 10):.4f},{'a' if i < 600 else 'b'},p1" for i in range(1200)]
    csv.write_text("ECG,label,subject\n" + "\n".join(rows) + "\n")
    first, second = read_long_csv(csv, record_length=600, fs=300.0)
    assert first.start_time == second.start_time == 0.0  # each record starts at 0 s
    moved = after(second, first.end_time)
    assert moved.start_time == first.end_time == 2.0 and moved.end_time == 4.0
    assert [(iv.label, iv.start, iv.end) for iv in moved.labels] == [("b", 2.0, 4.0)]
    np.testing.assert_array_equal(moved.signals["ecg"].data, second.signals["ecg"].data)
    assert moved.subject == "p1" and second.start_time == 0.0  # the original is untouched
