"""Resampling by timestamps onto the absolute grid k / rate."""

from __future__ import annotations

import numpy as np

from affectstream.dsp.resample import GridResampler


def test_a_ramp_lands_on_the_absolute_grid_exactly():
    r = GridResampler(32.0, 1, max_gap_s=0.5)
    t = 10.013 + np.arange(400) / 64.0  # 64 Hz, starting off the grid
    k0, v = r.process(t, (2.0 * t)[None, :], None, regular=True)
    assert k0 == int(np.ceil(10.013 * 32))  # the first grid point at or after the first sample
    g = (k0 + np.arange(v.shape[0])) / 32.0
    np.testing.assert_allclose(v[:, 0], 2.0 * g, rtol=0, atol=1e-12)
    assert g[-1] < t[-1]  # only points the data already brackets


def test_a_gap_longer_than_max_gap_gives_missing_values_not_invented_ones():
    r = GridResampler(4.0, 1, max_gap_s=0.5)
    t = np.r_[np.arange(0, 2, 0.25), np.arange(5, 7, 0.25)]
    _, v = r.process(t, np.ones((1, t.size)), None)
    g = np.arange(v.shape[0]) / 4.0
    inside_gap, outside = (g > 1.75) & (g < 5), (g < 1.75) | (g >= 5)
    assert np.isnan(v[inside_gap, 0]).all() and np.isfinite(v[outside, 0]).all()


def test_a_restored_resampler_continues_as_the_original():
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.uniform(0.01, 0.03, 600))
    x = rng.normal(size=(2, t.size))
    whole = GridResampler(32.0, 2, 0.5)
    ref = whole.process(t, x, None)[1]
    a, b = GridResampler(32.0, 2, 0.5), GridResampler(32.0, 2, 0.5)
    first = a.process(t[:250], x[:, :250], None)[1]
    b.load_state_dict(a.state_dict())
    rest = b.process(t[250:], x[:, 250:], None)[1]
    np.testing.assert_array_equal(np.vstack([first, rest]), ref)
