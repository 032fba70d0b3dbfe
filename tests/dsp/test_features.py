from __future__ import annotations

import numpy as np
import pytest

from affectstream.dsp.features import feature_names, window_features

RATE = 32.0


def synthetic_window(hr_hz: float = 1.2, scr_at=(10.0, 30.0, 50.0)) -> np.ndarray:
    """60 s of frames: a clean pulse, EDA with a slow rise and responses, warming skin."""
    t = np.arange(int(60 * RATE)) / RATE
    bvp = 40 * np.sin(2 * np.pi * hr_hz * t)
    eda = 2.0 + 0.001 * t
    for t0 in scr_at:  # 0.2 uS responses: fast rise, slow recovery
        after = np.clip(t - t0, 0, None)
        eda += 0.2 * (np.exp(-after / 4.0) - np.exp(-after / 0.75)) / 0.6 * (t > t0)
    temp = 33.0 + 0.01 * t
    return np.column_stack([bvp, eda, temp])


def test_features_measure_what_their_names_say():
    names = feature_names(["bvp", "eda", "temp"])
    values = window_features(synthetic_window(), ["bvp", "eda", "temp"], RATE)
    f = dict(zip(names, values, strict=True))
    assert f["hr_bpm"] == pytest.approx(72, abs=1)
    assert f["rmssd_s"] < 0.005 and f["sdnn_s"] < 0.005  # sub-sample peaks at 32 Hz
    assert f["eda_scr_count"] == 3
    assert f["eda_scr_amplitude_sum_us"] == pytest.approx(0.6, rel=0.25)
    assert f["eda_rise_us_per_s"] > 0 and f["eda_phasic_std_us"] > 0.01
    assert f["temp_slope_c_per_s"] == pytest.approx(0.01, rel=1e-6)
    assert f["temp_mean_c"] == pytest.approx(33.3, abs=0.01)


def test_more_responses_and_a_faster_pulse_move_the_features():
    chans = ["bvp", "eda", "temp"]
    calm = window_features(synthetic_window(1.0, (30.0,)), chans, RATE)
    aroused = window_features(synthetic_window(1.6, (5.0, 15.0, 25.0, 35.0, 45.0)), chans, RATE)
    names = feature_names(chans)
    for name in ("hr_bpm", "eda_scr_count", "eda_scr_amplitude_sum_us", "eda_phasic_std_us"):
        i = names.index(name)
        assert aroused[i] > calm[i], name


def test_missing_modality_data_gives_nan_not_an_error():
    w = synthetic_window()
    w[:, 0] = np.nan  # no pulse at all
    w[:, 1] = np.nan
    f = window_features(w, ["bvp", "eda", "temp"], RATE)
    names = feature_names(["bvp", "eda", "temp"])
    assert np.isnan(f[: names.index("temp_mean_c")]).all()
    assert np.isfinite(f[names.index("temp_mean_c") :]).all()
