from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectstream.data import Recording, Signal
from affectstream.dsp.preprocessor import Frames, Preprocessor
from affectstream.dsp.presets import E4_CONFIG

E4 = E4_CONFIG


def feed_in_random_chunks(
    pp: Preprocessor, rec: Recording, rng: np.random.Generator, max_chunk_s: float = 10.0
) -> Frames:
    """Push every modality in random chunk sizes (1 sample to max_chunk_s), interleaved."""
    pos = dict.fromkeys(rec.signals, 0)
    parts = []
    while any(pos[m] < rec.signals[m].n_samples for m in pp.modalities):
        m = pp.modalities[int(rng.integers(len(pp.modalities)))]
        s = rec.signals[m]
        if pos[m] >= s.n_samples:
            continue
        n = int(rng.integers(1, max(2, int(max_chunk_s * s.fs) + 1)))
        a, b = pos[m], min(pos[m] + n, s.n_samples)
        if s.timestamps is not None:
            f = pp.push(m, s.data[a:b], timestamps=s.timestamps[a:b])
        else:
            f = pp.push(m, s.data[a:b], start_time=s.start_time if a == 0 else None)
        parts.append(f)
        pos[m] = b
    return Frames.concat(parts, pp.n_channels, pp.rate)


def feed_whole(pp: Preprocessor, rec: Recording) -> Frames:
    parts = []
    for m in pp.modalities:
        s = rec.signals[m]
        if s.timestamps is not None:
            parts.append(pp.push(m, s.data, timestamps=s.timestamps))
        else:
            parts.append(pp.push(m, s.data, start_time=s.start_time))
    return Frames.concat(parts, pp.n_channels, pp.rate)


def test_chunk_invariance_on_real_e4_excerpt(excerpt):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 600)
    whole = feed_whole(Preprocessor(E4), rec)
    # grid points up to the last 4 Hz sample (599.75 s); later ones wait for more data
    assert len(whole) == 600 * 32 - 8
    for seed in range(3):
        chunked = feed_in_random_chunks(Preprocessor(E4), rec, np.random.default_rng(seed))
        assert np.array_equal(chunked.k, whole.k)
        assert np.max(np.abs(chunked.x - whole.x)) <= 1e-9


def _irregular_ecg(seed: int, seconds: float = 30.0) -> Recording:
    rng = np.random.default_rng(seed)
    fs = 256.0
    n = int(seconds * fs)
    t = 1.7e9 + np.cumsum(np.full(n, 1 / fs) * (1 + 0.05 * rng.uniform(-1, 1, n)))
    x = np.stack([np.sin(2 * np.pi * 1.1 * t) + 0.5, np.cos(2 * np.pi * 7 * t)], axis=1)
    eda = Signal(2 + 0.01 * rng.standard_normal(int(seconds * 4)), 4.0, 1.7e9 + 0.3, ("eda",))
    return Recording({"ecg": Signal(x, fs, t[0], ("I", "II"), t), "eda": eda})


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), max_chunk=st.sampled_from([0.01, 0.5, 10.0]))
def test_chunk_invariance_with_timestamps_and_two_leads(seed, max_chunk):
    cfg = {
        "model_rate": 128.0,
        "modalities": [
            {"name": "ecg", "fs": 256.0, "channels": ["I", "II"]},
            {"name": "eda", "fs": 4.0},
        ],
    }
    rec = _irregular_ecg(seed % 7)
    whole = feed_whole(Preprocessor(cfg), rec)
    chunked = feed_in_random_chunks(
        Preprocessor(cfg), rec, np.random.default_rng(seed), max_chunk_s=max_chunk
    )
    assert np.array_equal(chunked.k, whole.k)
    assert np.max(np.abs(chunked.x - whole.x)) <= 1e-9


def test_process_recording_does_not_depend_on_chunk_size(excerpt):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 300)
    a = Preprocessor(E4).process_recording(rec, chunk_s=10.0)
    b = Preprocessor(E4).process_recording(rec, chunk_s=0.25)
    assert np.array_equal(a.k, b.k) and np.max(np.abs(a.x - b.x)) <= 1e-9
    assert np.array_equal(Preprocessor(E4).process_recording(rec).x, a.x)


def test_frames_lie_on_the_absolute_grid_and_start_when_all_modalities_have():
    pp = Preprocessor(E4)
    assert len(pp.push("bvp", np.zeros(640), start_time=100.0)) == 0  # eda, temp not yet here
    assert len(pp.push("eda", np.ones(40), start_time=100.5)) == 0
    f = pp.push("temp", np.full(40, 33.0), start_time=100.5)
    assert f.k[0] == int(100.5 * 32) and np.allclose(f.t, f.k / 32.0)
    assert np.allclose(f.x[:, 1], 1.0) and np.allclose(f.x[:, 2], 33.0)
    assert pp.channel_names == ["bvp", "eda", "temp"]


def test_linear_ramp_is_resampled_exactly():
    cfg = {"model_rate": 10.0, "modalities": [{"name": "eda", "fs": 4.0, "filters": []}]}
    t0 = 50.0
    x = 1.0 + 0.25 * np.arange(400) / 4.0  # 0.25 uS per second
    f = Preprocessor(cfg).push("eda", x, start_time=t0)
    assert np.allclose(f.x[:, 0], 1.0 + 0.25 * (f.t - t0))


def test_nan_samples_and_gaps_give_nan_frames_not_invented_values():
    cfg = {"model_rate": 8.0, "max_gap_s": 0.5, "modalities": [{"name": "eda", "fs": 4.0}]}
    pp = Preprocessor(cfg)
    x = np.full(40, 2.0)
    x[10] = np.nan
    f = pp.push("eda", x, start_time=0.0)
    nan_t = f.t[np.isnan(f.x[:, 0])]
    assert nan_t.size and nan_t.min() > 2.0 and nan_t.max() < 3.0  # around sample 10 (2.5 s)
    assert np.allclose(f.x[~np.isnan(f.x[:, 0]), 0], 2.0)
    # a 5 s gap: the clock re-anchors on the new start time; frames inside the gap are NaN
    g = pp.push("eda", np.full(8, 2.0), start_time=15.0)
    inside = (g.t > 10.0) & (g.t < 15.0)
    assert inside.any() and np.isnan(g.x[inside, 0]).all()


def test_samples_from_the_past_are_dropped_and_counted():
    cfg = {"model_rate": 8.0, "modalities": [{"name": "eda", "fs": 4.0}]}
    pp = Preprocessor(cfg)
    pp.push("eda", np.ones(8), timestamps=np.arange(8) / 4.0)
    pp.push("eda", np.ones(8), timestamps=np.arange(8) / 4.0)  # duplicated chunk
    assert pp.dropped_samples == {"eda": 8}


def test_resolved_config_rebuilds_the_same_preprocessor(excerpt):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 120)
    pp = Preprocessor(E4)
    cfg = pp.config
    assert cfg["modalities"][0]["filters"][0]["kind"] == "highpass"  # presets written out
    again = Preprocessor(cfg).process_recording(rec)
    assert np.array_equal(again.x, Preprocessor(E4).process_recording(rec).x)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"modalities": [{"name": "eda", "fs": 4.0}]}, "model_rate"),
        ({"model_rate": 32.0, "modalities": []}, "non-empty"),
        ({"model_rate": 32.0, "modalities": [{"name": "eda", "fs": 0}]}, "positive rate"),
        ({"model_rate": 32.0, "modalities": [{"name": "ecg", "fs": 50.0}]}, "ECG stream at 50 Hz"),
        ({"model_rate": 16.0, "modalities": [{"name": "ecg", "fs": 300.0}]}, "model grid"),
        ({"model_rate": 32.0, "modalities": [{"name": "eda", "fs": 4.0}] * 2}, "twice"),
        (
            {"model_rate": 32.0, "version": 9, "modalities": [{"name": "eda", "fs": 4.0}]},
            "version 9",
        ),
    ],
)
def test_bad_configs_are_refused_with_the_reason(cfg, match):
    with pytest.raises(ValueError, match=match):
        Preprocessor(cfg)


def test_bad_pushes_are_refused():
    pp = Preprocessor(E4)
    with pytest.raises(ValueError, match="unknown modality 'ecg'"):
        pp.push("ecg", np.zeros(10), start_time=0.0)
    with pytest.raises(ValueError, match="needs a start_time"):
        pp.push("eda", np.zeros(10))
    with pytest.raises(ValueError, match=r"expected \(n, 1\)"):
        pp.push("eda", np.zeros((10, 2)), start_time=0.0)


def test_process_recording_names_a_missing_modality(excerpt):
    cfg = {"model_rate": 128.0, "modalities": [{"name": "ecg", "fs": 256.0}]}
    with pytest.raises(ValueError, match="has no 'ecg' signal"):
        Preprocessor(cfg).process_recording(excerpt)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_restored_preprocessor_continues_sample_for_sample(excerpt, seed):
    import copy
    import json

    from affectstream.stream.device_store import from_json, to_json

    cfg = copy.deepcopy(E4) | {"derived": [{"name": "heart_rate", "source": "bvp"}]}
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 300)
    rng = np.random.default_rng(seed)
    chunks = []  # (modality, samples, start time) in random sizes, interleaved
    for m, s in rec.signals.items():
        a = 0
        while a < s.n_samples:
            b = min(s.n_samples, a + int(rng.integers(1, int(8 * s.fs))))
            chunks.append((s.start_time + a / s.fs, m, s.data[a:b]))
            a = b
    chunks.sort(key=lambda c: c[0])
    whole, first, second = Preprocessor(cfg), Preprocessor(cfg), Preprocessor(cfg)
    ref = Frames.concat([whole.push(m, x, start_time=t) for t, m, x in chunks], 4, 32.0)
    cut = int(rng.integers(len(chunks) // 4, 3 * len(chunks) // 4))
    parts = [first.push(m, x, start_time=t) for t, m, x in chunks[:cut]]
    # through the JSON form a saved device state has, into a fresh preprocessor
    second.load_state_dict(from_json(json.loads(json.dumps(to_json(first.state_dict())))))
    parts += [second.push(m, x, start_time=t) for t, m, x in chunks[cut:]]
    got = Frames.concat(parts, 4, 32.0)
    assert np.array_equal(got.k, ref.k)
    np.testing.assert_array_equal(got.x, ref.x)  # bit for bit, heart-rate channel included


def test_a_state_for_another_config_is_refused(excerpt):
    pp = Preprocessor(E4)
    other = Preprocessor({**E4, "modalities": E4["modalities"][:2]})
    with pytest.raises(ValueError, match="preprocessor state is for modalities"):
        other.load_state_dict(pp.state_dict())
