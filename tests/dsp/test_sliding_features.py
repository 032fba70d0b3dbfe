from __future__ import annotations

import numpy as np
import pytest

from affectstream.data import Recording, Signal
from affectstream.dsp.features import feature_names, window_features
from affectstream.dsp.preprocessor import Frames, Preprocessor
from affectstream.dsp.presets import E4_CONFIG
from affectstream.dsp.quality import window_quality
from affectstream.dsp.sliding_features import SlidingFeatures
from affectstream.dsp.sliding_quality import SlidingQuality
from tests.dsp.test_preprocessor import feed_in_random_chunks


def _with_gaps_and_missing(rec: Recording, rng: np.random.Generator) -> Recording:
    """The recording with samples lost (gaps in time) and samples missing (NaN runs)."""
    sigs = {}
    for name, s in rec.signals.items():
        t = s.times()
        keep = np.ones(t.size, dtype=bool)
        for _ in range(4):  # gaps of 0.2 to 8 s: short ones are bridged, long ones are NaN
            a = int(rng.integers(0, t.size - 1))
            keep[a : a + max(1, int(rng.uniform(0.2, 8.0) * s.fs))] = False
        data = s.data.copy()
        for _ in range(6):  # missing samples, up to a second
            a = int(rng.integers(0, t.size - 1))
            data[a : a + int(rng.integers(1, max(2, int(s.fs))))] = np.nan
        sigs[name] = Signal(data[keep], s.fs, float(t[keep][0]), s.channels, t[keep])
    return Recording(sigs, subject=rec.subject)


@pytest.mark.parametrize(("seed", "window"), [(0, 1920), (1, 960), (2, 480)])
def test_sliding_features_equal_the_from_scratch_ones_for_any_chunking(excerpt, seed, window):
    # 60, 30 and 15 s windows (15 s holds a shorter tonic span than 20 s)
    rng = np.random.default_rng(seed)
    t0 = excerpt.start_time + 120.0 * seed
    rec = _with_gaps_and_missing(excerpt.slice_time(t0, t0 + 480.0), rng)
    pp = Preprocessor(E4_CONFIG)
    fr = feed_in_random_chunks(pp, rec, rng)
    assert np.isnan(fr.x).any(axis=1).mean() > 0.02  # the gaps and NaN runs reached the frames
    sf = SlidingFeatures(pp.channel_names, pp.rate, window)
    names = feature_names(pp.channel_names)
    i, checked, nan_seen = 0, 0, set()
    while i < len(fr):
        m = int(rng.choice([1, 7, 32, 100, 480, 1500]))
        sf.push(int(fr.k[i]), fr.x[i : i + m])
        i = min(i + m, len(fr))
        if i < window:
            continue
        got = sf.features()
        k0 = int(fr.k[i - window])
        want = window_features(fr.x[i - window : i], pp.channel_names, pp.rate, k0=k0)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"frame {i}")
        nan_seen |= {n for n, v in zip(names, want, strict=True) if np.isnan(v)}
        checked += 1
    assert checked > 20
    assert "hr_bpm" in nan_seen  # windows with missing pulse frames were among those compared


def test_a_pushed_recording_and_its_windows_agree_on_a_synthetic_ecg():
    # the ECG path (R peaks at >= 100 Hz) and a recording pushed whole
    rate, n = 128.0, int(150 * 128)
    t = np.arange(n) / rate
    ecg = np.exp(-(((t * 1.1) % 1.0 - 0.5) ** 2) / (2 * 0.01**2))
    eda = 2.0 + 0.05 * np.sin(2 * np.pi * t / 20)
    x = np.column_stack([ecg, eda])
    chans = ["ecg:MLII", "eda"]
    sf = SlidingFeatures(chans, rate, int(60 * rate))
    sf.push(5, x)
    want = window_features(x[-int(60 * rate) :], chans, rate, k0=5 + n - int(60 * rate))
    np.testing.assert_allclose(sf.features(), want, rtol=1e-9, atol=1e-9)
    assert want[0] == pytest.approx(66.0, rel=0.02)


def test_frames_must_be_consecutive():
    sf = SlidingFeatures(["bvp", "eda", "temp"], 32.0, 1920)
    with pytest.raises(ValueError, match="no frames yet"):
        sf.features()
    sf.push(0, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="must be consecutive: got frame 20 after 9"):
        sf.push(20, np.zeros((5, 3)))


def test_frames_concatenated_are_the_frames_pushed():
    # Frames from a Preprocessor are consecutive: pushing its output chunk by chunk is allowed
    fr = Frames(np.arange(3, 9), np.zeros((6, 3)), 32.0)
    sf = SlidingFeatures(["bvp", "eda", "temp"], 32.0, 4)
    sf.push(int(fr.k[0]), fr.x[:2])
    sf.push(int(fr.k[2]), fr.x[2:])
    f = sf.features()
    assert f.shape == (14,) and f[4] == 0.0  # EDA mean of the zeros


@pytest.mark.parametrize("seed", [0, 3])
def test_sliding_quality_equals_the_from_scratch_one(excerpt, seed):
    rng = np.random.default_rng(seed)
    t0 = excerpt.start_time + 200.0 * seed
    rec = _with_gaps_and_missing(excerpt.slice_time(t0, t0 + 420.0), rng)
    pp = Preprocessor(E4_CONFIG)
    fr = feed_in_random_chunks(pp, rec, rng)
    x = fr.x.copy()
    x[2000:3400, 0] = x[1999, 0]  # a flat pulse for 44 s
    x[5000:5200, 0] = 0.0  # and for 6 s
    x[6000:7200, 1] = -1.0  # EDA out of range for 37 s
    sq = SlidingQuality(pp.channel_names, pp.rate, 1920, max_missing=0.1)
    i, reasons = 0, set()
    while i < len(fr):
        m = int(rng.choice([1, 32, 100, 480]))
        sq.push(int(fr.k[i]), x[i : i + m])
        i = min(i + m, len(fr))
        if i >= 1920:
            got = sq.quality()
            want = window_quality(x[i - 1920 : i], pp.channel_names, pp.rate, 0.1)
            assert got[1] == want[1] and got[0] == pytest.approx(want[0], abs=1e-12), i
            reasons.add(None if want[1] is None else want[1].split(" (")[0])
    # clean windows, flat ones and at least one other reason were among those compared
    assert {None, "poor signal quality: bvp flat line"} <= reasons and len(reasons) >= 3
