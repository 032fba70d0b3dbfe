from __future__ import annotations

import numpy as np
import pytest

from affectstream.data.wfdb_record import read_annotation_samples, read_wfdb
from affectstream.dsp.beats import (
    detect_pulse_peaks,
    detect_r_peaks,
    group_delay_s,
    heart_rate_series,
    median_rate_bpm,
    score_beats,
    systolic_peaks,
)
from affectstream.dsp.heart_rate import block_beats


def test_r_peaks_on_mitdb_100_match_the_cardiologists(mitdb_100):
    rec = read_wfdb(mitdb_100)
    ecg = rec.signals["ecg"]
    assert ecg.channels[0] == "MLII"
    peaks = detect_r_peaks(ecg.data[:, 0], ecg.fs)
    ref, _ = read_annotation_samples(mitdb_100, "atr")
    score = score_beats(peaks, ref, int(0.15 * ecg.fs))
    assert score.n_reference > 2200
    assert score.sensitivity >= 0.995
    assert score.positive_predictivity >= 0.995


def _synthetic_ppg(hr_bpm: float, fs: float, seconds: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    beat_t = np.arange(0.5, seconds, 60.0 / hr_bpm)
    x = np.zeros_like(t)
    for b in beat_t:  # a systolic upstroke and a smaller diastolic wave per beat
        x += np.exp(-((t - b) ** 2) / (2 * 0.06**2)) + 0.3 * np.exp(-((t - b - 0.3) ** 2) / 0.01)
    return x + 0.02 * rng.standard_normal(t.size) + 0.5 * np.sin(2 * np.pi * 0.05 * t), beat_t


@pytest.mark.parametrize(
    "hr",
    [
        pytest.param(
            50.0,
            marks=pytest.mark.xfail(
                strict=True,
                reason="known limit of Elgendi's detector with offset 0: at 50 bpm beats are "
                "1.2 s apart, longer than the 667 ms beat average, and this synthetic wave's "
                "diastolic peak crosses it (33 extra peaks for 98 beats); the paper's offset "
                "0.02 fixes it but worsens the real wrists' agreement with the E4 (README)",
            ),
        ),
        72.0,
        120.0,
        170.0,
    ],
)
def test_pulse_peaks_find_every_synthetic_beat(hr):
    fs = 64.0
    x, beat_t = _synthetic_ppg(hr, fs, 120.0)
    peaks = detect_pulse_peaks(x, fs)
    ref = np.round(beat_t * fs).astype(int)
    score = score_beats(peaks, ref[ref > 2 * fs], int(0.15 * fs))
    assert score.sensitivity >= 0.98 and score.positive_predictivity >= 0.95
    rate = heart_rate_series(peaks, fs, np.array([60.0, 100.0]))
    assert np.allclose(rate, hr, rtol=0.03)


def test_systolic_peaks_follow_a_pulse_whose_amplitude_swings_tenfold():
    # a wrist pulse whose amplitude falls to a tenth and back (arm moving), with a fixed-
    # prominence rule the small beats would vanish under the large ones' threshold
    fs = 32.0
    x, beat_t = _synthetic_ppg(75.0, fs, 60.0)
    t = np.arange(x.size) / fs
    gain = 0.1 + 0.9 * (0.5 + 0.5 * np.cos(2 * np.pi * t / 30.0))
    from affectstream.dsp.filters import filter_offline
    from affectstream.dsp.presets import preset

    y = filter_offline(x * gain, preset("bvp"), fs)
    peaks = systolic_peaks(y, fs)
    ref = np.round(beat_t * fs).astype(int)
    delay = int(round(group_delay_s(preset("bvp"), fs, 1.5) * fs))
    score = score_beats(peaks - delay, ref[ref > 2 * fs], int(0.15 * fs))
    assert score.sensitivity >= 0.97 and score.positive_predictivity >= 0.97


def test_systolic_peaks_of_silence_or_a_short_signal_are_none():
    assert systolic_peaks(np.zeros(640), 32.0).size == 0
    assert systolic_peaks(np.ones(3), 32.0).size == 0


def test_pulse_amplitude_is_peak_above_the_trough_since_the_last_peak():
    fs = 32.0
    t = np.arange(int(10 * fs)) / fs
    y = np.sin(2 * np.pi * t) * np.where(t < 5, 1.0, 2.0)  # 1 Hz, amplitude doubles at 5 s
    pos, amp = block_beats(y, 100, 100 + 4 * 32, 5 * 32, fs)  # the beats in 4 s to 9 s
    assert pos.size == 5 and np.all((pos >= 228) & (pos < 388))
    np.testing.assert_allclose(amp, [2.0, 3.0, 4.0, 4.0, 4.0], atol=0.02)  # trough to peak
    assert block_beats(np.full(320, np.nan), 0, 128, 160, fs)[0].size == 0


def test_pulse_heart_rate_agrees_with_the_e4s_own(stress_predict):
    from affectstream.data import load_recordings

    (rec,) = load_recordings(stress_predict / "Raw_data" / "S16")
    bvp, hr = rec.signals["bvp"], rec.signals["hr"]
    peaks = detect_pulse_peaks(bvp.data[:, 0], bvp.fs)
    ours = heart_rate_series(peaks, bvp.fs, hr.times() - bvp.start_time)
    ok = np.isfinite(ours) & np.isfinite(hr.data[:, 0])
    assert ok.sum() > 3000
    # S16 moves a lot: the fixed-prominence detector this replaced differed by 15.9 bpm (median)
    assert np.median(np.abs(ours[ok] - hr.data[ok, 0])) < 13.0


def test_score_matches_one_to_one_within_tolerance():
    s = score_beats(np.array([100, 101, 300, 900]), np.array([100, 310, 500]), 20)
    assert (s.true_positives, s.false_positives, s.false_negatives) == (2, 2, 1)
    assert s.sensitivity == pytest.approx(2 / 3) and s.positive_predictivity == pytest.approx(0.5)


def test_detectors_refuse_too_slow_streams():
    with pytest.raises(ValueError, match="needs >= 100 Hz"):
        detect_r_peaks(np.zeros(1000), 50.0)
    with pytest.raises(ValueError, match="needs >= 16 Hz"):
        detect_pulse_peaks(np.zeros(1000), 8.0)


def test_short_input_gives_no_beats():
    assert detect_r_peaks(np.zeros(100), 360.0).size == 0
    assert detect_pulse_peaks(np.zeros(10), 64.0).size == 0


def test_heart_rate_is_60_over_the_median_of_the_plausible_intervals():
    # a missed beat (1.6 s would be plausible, 2.4 s is not) and an extra one (0.1 s) are dropped
    ibi = np.array([0.8, 0.75, 2.4, 0.1, 0.85, 0.8])
    assert median_rate_bpm(ibi) == pytest.approx(60.0 / 0.8)
    assert np.isnan(median_rate_bpm(np.array([0.8, 3.0])))  # one plausible interval of two
    assert median_rate_bpm(np.array([0.8, 3.0]), min_intervals=1) == pytest.approx(75.0)
    assert np.isnan(median_rate_bpm(np.empty(0), min_intervals=1))
