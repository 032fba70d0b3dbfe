from __future__ import annotations

import copy

import numpy as np
import pytest

from affectstream.dsp.filters import filter_offline
from affectstream.dsp.heart_rate import BLOCK_S, MARGIN_S, StreamingHeartRate
from affectstream.dsp.preprocessor import Preprocessor
from affectstream.dsp.presets import E4_CONFIG, preset
from tests.dsp.test_preprocessor import feed_in_random_chunks

E4_HR = copy.deepcopy(E4_CONFIG) | {"derived": [{"name": "heart_rate", "source": "bvp"}]}


def _pulse(bpm: np.ndarray, fs: float) -> np.ndarray:
    """A pulse wave whose rate follows ``bpm`` (one value per sample), band-passed."""
    phase = np.cumsum(bpm / 60.0 / fs)
    x = np.exp(-(((phase % 1.0) - 0.3) ** 2) / (2 * 0.05**2))
    return filter_offline(x, preset("bvp"), fs)


def test_the_channel_follows_a_step_in_rate_with_a_bounded_lag():
    fs = 32.0
    t = np.arange(int(60 * fs)) / fs
    bpm = np.where(t < 30, 72.0, 120.0)
    hr = StreamingHeartRate(fs).process(0, _pulse(bpm, fs))
    assert np.isnan(hr[0])
    lag = BLOCK_S + MARGIN_S + 6 * 60 / 120  # block, margin and the median of 5 intervals
    np.testing.assert_allclose(hr[(t > 10) & (t < 30)], 72.0, rtol=0.02)
    np.testing.assert_allclose(hr[t > 30 + lag], 120.0, rtol=0.02)
    # causal: the rate before the step never saw it
    assert np.all(hr[(t > 10) & (t < 30 + BLOCK_S)] < 80)


def test_the_channel_does_not_depend_on_how_frames_arrive():
    fs = 32.0
    bvp = _pulse(np.linspace(60, 150, int(90 * fs)), fs)
    whole = StreamingHeartRate(fs).process(100, bvp)
    rng = np.random.default_rng(0)
    hr, parts, i = StreamingHeartRate(fs), [], 0
    while i < bvp.size:
        n = int(rng.integers(1, 80))
        parts.append(hr.process(100 + i, bvp[i : i + n]))
        i += n
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_frames_must_be_consecutive():
    hr = StreamingHeartRate(32.0)
    hr.process(0, np.zeros(10))
    with pytest.raises(ValueError, match="must be consecutive: got frame 20 after 9"):
        hr.process(20, np.zeros(5))


def test_preprocessor_appends_it_and_stays_chunk_invariant(excerpt):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 300)
    pp = Preprocessor(E4_HR)
    assert pp.channel_names == ["bvp", "eda", "temp", "heart_rate"] and pp.n_channels == 4
    whole = pp.process_recording(rec)
    chunked = feed_in_random_chunks(Preprocessor(E4_HR), rec, np.random.default_rng(1))
    assert np.array_equal(chunked.k, whole.k)
    assert np.array_equal(np.isnan(chunked.x), np.isnan(whole.x))
    np.testing.assert_allclose(chunked.x, whole.x, atol=1e-6)
    # the other channels are what a preprocessor without the derived channel gives
    plain = Preprocessor(E4_CONFIG).process_recording(rec)
    np.testing.assert_array_equal(whole.x[:, :3], plain.x)
    hr = whole.x[:, 3]
    assert np.isnan(hr[: int(2 * 32)]).all() and np.isfinite(hr[int(10 * 32) :]).all()


def test_it_agrees_with_the_e4s_own_heart_rate(stress_predict):
    from affectstream.data import load_recordings

    (rec,) = load_recordings(stress_predict / "Raw_data" / "S13")
    frames = Preprocessor(E4_HR).process_recording(rec)
    device = rec.signals["hr"]
    ours = np.interp(device.times(), frames.t, frames.x[:, 3])
    ok = np.isfinite(ours) & np.isfinite(device.data[:, 0])
    assert ok.sum() > 3000
    assert np.median(np.abs(ours[ok] - device.data[ok, 0])) < 5.0  # 3.2 bpm when written


@pytest.mark.parametrize(
    ("derived", "match"),
    [
        ([{"name": "breathing", "source": "bvp"}], "derived channel 'breathing' is unknown"),
        ([{"name": "heart_rate", "source": "eda"}], "comes from one of the modalities bvp"),
        ([{"name": "heart_rate", "source": "ecg"}], "got source 'ecg'"),
        ([{"name": "heart_rate", "source": "bvp"}] * 2, "listed twice"),
    ],
)
def test_bad_derived_channels_are_refused(derived, match):
    with pytest.raises(ValueError, match=match):
        Preprocessor(copy.deepcopy(E4_CONFIG) | {"derived": derived})


def test_configs_without_derived_channels_resolve_to_none():
    assert Preprocessor(E4_CONFIG).config["derived"] == []


def test_a_single_ecg_lead_gives_the_channel_too(mitdb_100):
    """From one lead of real ECG (MIT-BIH 100, 360 Hz) on a 100 Hz model grid: the channel
    follows the heart rate of the cardiologists' beat annotations."""
    from affectstream.data.wfdb_record import read_annotation_samples, read_wfdb

    rec = read_wfdb(mitdb_100)
    rec = rec.slice_time(rec.start_time, rec.start_time + 300)
    ecg = rec.signals["ecg"]
    rec.signals = {"ecg": type(ecg)(ecg.data[:, :1], ecg.fs, ecg.start_time, ecg.channels[:1])}
    cfg = {
        "model_rate": 100.0,
        "modalities": [{"name": "ecg", "fs": ecg.fs, "channels": [ecg.channels[0]]}],
        "derived": [{"name": "heart_rate", "source": "ecg"}],
    }
    frames = Preprocessor(cfg).process_recording(rec)
    ref, _ = read_annotation_samples(mitdb_100, "atr")
    ref_t = ref[ref < 300 * ecg.fs] / ecg.fs
    ref_bpm = 60.0 / np.diff(ref_t)
    t = frames.t - frames.t[0]
    hr = frames.x[:, 1]
    ok = (t > 20) & np.isfinite(hr)
    assert ok.mean() > 0.9
    truth = np.interp(t[ok], ref_t[1:], ref_bpm)
    assert np.median(np.abs(hr[ok] - truth)) < 3.0
    with pytest.raises(ValueError, match="at least 100 Hz"):
        StreamingHeartRate(64.0, "ecg")
