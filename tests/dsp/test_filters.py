from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from affectstream.dsp.filters import StreamingFilter, design_sos, filter_offline, sosfilt_rows
from affectstream.dsp.presets import PRESETS, preset


def steady_gain_db(stages, fs: float, freq: float) -> float:
    """Gain of the causal filter on a sine, measured over its last 5 periods after settling."""
    periods = 40 if freq < 1 else 200
    t = np.arange(int(periods / freq * fs)) / fs
    x = np.sin(2 * np.pi * freq * t)
    y = filter_offline(x, stages, fs)
    tail = int(5 / freq * fs)
    return 20 * np.log10(np.sqrt(np.mean(y[-tail:] ** 2)) / np.sqrt(np.mean(x[-tail:] ** 2)))


@pytest.mark.parametrize("fs", [256.0, 300.0, 360.0])
def test_ecg_preset_removes_baseline_wander(fs):
    assert steady_gain_db(preset("ecg"), fs, 0.1) <= -30.0


@pytest.mark.parametrize("fs", [256.0, 300.0, 360.0])
@pytest.mark.parametrize("freq", [5.0, 7.5, 10.0, 12.5, 15.0])
def test_ecg_preset_passes_qrs_band_within_1db(fs, freq):
    assert abs(steady_gain_db(preset("ecg"), fs, freq)) <= 1.0


def test_eda_and_temp_presets_keep_the_level():
    t = np.arange(4 * 600) / 4.0
    eda = 2.5 + 0.002 * t  # tonic level with a slow drift, microsiemens
    y = filter_offline(eda, preset("eda"), 4.0)
    assert np.max(np.abs(y[40:] - eda[40:])) < 0.01
    temp = np.full(2400, 33.2)
    assert np.allclose(filter_offline(temp, preset("temp"), 4.0), 33.2)


def test_chunked_filtering_equals_whole():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5000, 2)) + 3.0
    sos = design_sos(preset("ecg"), 300.0)
    whole = StreamingFilter(sos, 2).process(x)
    f = StreamingFilter(sos, 2)
    parts, i = [], 0
    while i < x.shape[0]:
        n = int(rng.integers(1, 700))
        parts.append(f.process(x[i : i + n]))
        i += n
    assert np.max(np.abs(np.concatenate(parts) - whole)) <= 1e-12


def test_fast_kernel_matches_public_sosfilt():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 400))
    sos = design_sos(preset("bvp"), 64.0)
    zi = np.ascontiguousarray(np.tile(signal.sosfilt_zi(sos), (3, 1, 1)) * x[:, :1, None])
    expected, _ = signal.sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, 0, 1))
    rows = x.copy()
    sosfilt_rows(sos, rows, zi.copy())
    assert np.array_equal(rows, expected)


def test_first_sample_starts_the_filter_at_steady_state():
    y = filter_offline(np.full(100, 5.0), preset("eda"), 4.0)
    assert np.allclose(y, 5.0)


@pytest.mark.parametrize(
    ("stage", "fs", "match"),
    [
        ({"kind": "lowpass", "cutoff": 40.0}, 64.0, "Nyquist"),
        ({"kind": "highpass", "cutoff": -1.0}, 64.0, "positive"),
        ({"kind": "bandpass", "low": 8.0, "high": 2.0}, 64.0, "below the high edge"),
        ({"kind": "wavelet"}, 64.0, "unknown filter kind"),
    ],
)
def test_bad_filter_specs_say_what_is_wrong(stage, fs, match):
    with pytest.raises(ValueError, match=match):
        design_sos([stage], fs)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="presets exist for"):
        preset("eeg")
    assert {"ecg", "bvp", "eda", "temp"} <= set(PRESETS)
