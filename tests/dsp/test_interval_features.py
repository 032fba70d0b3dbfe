"""Window features from a device's heart rate (``hr``) and beat intervals (``ibi``), through the
Preprocessor as training and serving run them."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.dsp import Preprocessor
from affectstream.dsp.beats import plausible_intervals
from affectstream.dsp.features import feature_names, window_features
from affectstream.dsp.interval_features import INTERVAL_FEATURES, ibi_features
from tests.conftest import shared_path

RATE = 4.0


def frames(name: str, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    pp = Preprocessor({"model_rate": RATE, "modalities": [{"name": name, "fs": 1.0}]})
    return pp.push(name, values, timestamps=times).x[:, 0]


def test_hr_channel_mean_spread_and_slope():
    t = 100.0 + np.arange(90.0)
    x = frames("hr", 70 + 0.1 * (t - t[0]), t)
    w = x[: int(60 * RATE)]
    names = feature_names(["eda", "hr"])
    assert names[-3:] == list(INTERVAL_FEATURES["hr"])
    f = dict(
        zip(
            names,
            window_features(np.column_stack([np.ones_like(w), w]), ["eda", "hr"], RATE),
            strict=True,
        )
    )
    assert f["hr_slope_bpm_per_s"] == pytest.approx(0.1, rel=1e-9)
    assert f["hr_mean_bpm"] == pytest.approx(70 + 0.1 * 29.875, rel=1e-9)
    assert f["hr_std_bpm"] == pytest.approx(0.1 * np.std(np.arange(240) / RATE), rel=1e-9)


def test_hr_at_1_hz_fills_the_grid_and_a_long_gap_stays_missing():
    t = np.r_[np.arange(0.0, 20.0), np.arange(25.0, 40.0)]  # a 5 s gap: more than 3 s
    x = frames("hr", np.full(t.size, 60.0), t)
    k = np.arange(x.size) / RATE
    assert np.isfinite(x[k < 19]).all() and np.isnan(x[(k > 19.5) & (k < 24.5)]).all()
    with pytest.raises(ValueError, match="max_gap_s must be a positive"):
        Preprocessor({"model_rate": 4.0, "modalities": [{"name": "hr", "fs": 1.0, "max_gap_s": 0}]})


def test_ibi_steady_and_alternating_beats():
    iv = np.full(100, 0.8)
    x = frames("ibi", iv, 10 + np.cumsum(iv))
    hr, rmssd, sdnn = ibi_features(x[: int(60 * RATE)], RATE)
    assert hr == pytest.approx(75.0) and rmssd == pytest.approx(0.0, abs=1e-12) and sdnn < 1e-12
    iv = np.tile([0.8, 0.9], 50)
    x = frames("ibi", iv, 10 + np.cumsum(iv))
    hr, rmssd, sdnn = ibi_features(x[: int(60 * RATE)], RATE)
    assert 60 / 0.9 <= hr <= 75.0
    assert 0.05 < rmssd <= 0.1 and 0.02 < sdnn <= 0.05  # interpolation between beats smooths


def test_ibi_features_follow_the_exact_beat_statistics_of_real_e4_intervals():
    from affectstream.data.e4 import read_e4_folder

    exact, ours = [], []
    for subject in ("S02", "S05", "S09"):
        folder = shared_path("stress_predict", "Raw_data", subject)
        if not folder.is_dir():
            pytest.skip(f"Stress-Predict is not at {folder}")
        ibi = read_e4_folder(folder).signals["ibi"]
        x = frames("ibi", ibi.data[:, 0], ibi.timestamps)
        t = np.ceil(ibi.timestamps[0] * RATE) / RATE + np.arange(x.size) / RATE
        w = int(60 * RATE)
        for a in range(0, x.size - w, w // 2):
            if np.isfinite(x[a : a + w]).mean() < 0.8:
                continue
            inside = (ibi.timestamps >= t[a]) & (ibi.timestamps <= t[a + w - 1])
            iv = plausible_intervals(ibi.data[inside, 0])
            if iv.size >= 10:
                exact.append([60 / np.median(iv), np.sqrt(np.mean(np.diff(iv) ** 2)), np.std(iv)])
                ours.append(ibi_features(x[a : a + w], RATE))
    e, o = np.array(exact), np.array(ours)
    assert len(e) >= 10
    r = [np.corrcoef(e[:, j], o[:, j])[0, 1] for j in range(3)]
    assert r[0] > 0.99 and r[1] > 0.85 and r[2] > 0.95, r
