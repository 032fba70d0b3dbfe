from __future__ import annotations

import numpy as np
import pytest

from affectstream.dsp.quality import (
    clipping_fraction,
    flatline_fraction,
    implausible_ibi_fraction,
    out_of_range_fraction,
    signal_quality,
)


def test_flatline_counts_only_long_constant_runs():
    x = np.sin(np.arange(400) / 3.0)
    assert flatline_fraction(x, 64.0) == 0.0
    x[100:228] = 0.5  # 2 s flat at 64 Hz
    assert flatline_fraction(x, 64.0) == pytest.approx(129 / 400, abs=0.01)


def test_clipping_finds_a_saturated_signal():
    x = np.clip(3 * np.sin(np.arange(1000) / 10.0), -1, 1)
    assert clipping_fraction(x) > 0.3
    assert clipping_fraction(np.sin(np.arange(1000) / 10.0)) < 0.02


def test_out_of_range_uses_the_modality_range_and_counts_nan():
    eda = np.array([1.0, 2.0, -0.5, np.nan, 3.0])
    assert out_of_range_fraction(eda, "eda") == pytest.approx(0.4)
    with pytest.raises(ValueError, match="pass lo and hi"):
        out_of_range_fraction(eda, "emg")


def test_implausible_intervals():
    assert implausible_ibi_fraction(np.full(20, 0.8)) == 0.0
    ibi = np.full(20, 0.8)
    ibi[5] = 3.0  # a missed beat
    assert implausible_ibi_fraction(ibi) == pytest.approx(2 / 20)  # the long one and the jump back
    assert implausible_ibi_fraction(np.array([])) == 1.0


def test_signal_quality_of_real_bvp_and_a_dead_sensor(excerpt):
    bvp = excerpt.signals["bvp"]
    good = signal_quality(bvp.data[64 * 100 : 64 * 160], bvp.fs, "bvp")
    assert good["quality"] > 0.5
    dead = signal_quality(np.zeros(64 * 60), 64.0, "bvp")
    assert dead["quality"] == 0.0 and dead["flatline"] == 1.0
