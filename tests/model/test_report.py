from __future__ import annotations

import csv

import numpy as np
import pytest

from affectstream.model.report import write_predictions


def test_predictions_table_round_trips_and_refuses_ragged_columns(tmp_path):
    path = tmp_path / "predictions.csv"
    write_predictions(
        path,
        {
            "subject": ["S01", "S02"],
            "fold": [1, 2],
            "label_age_s": ["", 12.5],
            "p": [np.float64(1 / 3), 0.25],
        },
    )
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [
        {"subject": "S01", "fold": "1", "label_age_s": "", "p": "0.333333"},
        {"subject": "S02", "fold": "2", "label_age_s": "12.5", "p": "0.25"},
    ]
    with pytest.raises(ValueError, match="differ in length"):
        write_predictions(path, {"a": [1, 2], "b": [1]})
