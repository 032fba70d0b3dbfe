from __future__ import annotations

import numpy as np
import pytest

from affectstream.model.feature_calibration import FeatureRule, replay


def _session(n: int = 40, hop: float = 15.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t_end = 60.0 + hop * np.arange(n)
    f = rng.normal(size=(n, 3))
    f[:, 1] += 0.05 * t_end  # a drifting feature
    f[5, 2] = np.nan
    return f, t_end


def test_anchored_centres_on_the_reference_period_and_scales_by_the_spread_so_far():
    f, t = _session()
    rule = FeatureRule("anchored", min_s=300.0, settle_s=120.0)
    z = replay(rule, f, t)
    ref = (t >= 120.0) & (t <= 300.0)
    i = 30
    centre = np.nanmean(f[ref], axis=0)
    spread = np.nanstd(f[: i + 1], axis=0)
    np.testing.assert_allclose(z[i], np.clip((f[i] - centre) / spread, -4, 4))
    # the centre never moves after the reference period: later windows do not shift it
    f2 = f.copy()
    f2[25:, 0] += 100.0
    z2 = replay(rule, f2, t)
    np.testing.assert_array_equal(z2[:25], z[:25])


def test_running_centres_on_everything_so_far():
    f, t = _session()
    z = replay(FeatureRule("running"), f, t)
    i = 20
    mean, std = np.nanmean(f[: i + 1], axis=0), np.nanstd(f[: i + 1], axis=0)
    np.testing.assert_allclose(z[i], np.clip((f[i] - mean) / std, -4, 4))


def test_one_window_at_a_time_equals_the_replay_and_readiness_follows_the_warm_up():
    f, t = _session()
    rule = FeatureRule("anchored")
    cal = rule.calibrator(3)
    out = []
    for fi, ti in zip(f, t, strict=True):
        out.append(cal.step(fi, ti))
        assert cal.ready == (ti >= rule.min_s)
    np.testing.assert_array_equal(np.array(out), replay(rule, f, t))


def test_a_feature_missing_in_the_reference_is_centred_on_its_mean_so_far():
    f, t = _session()
    f[(t >= 120) & (t <= 300), 2] = np.nan
    z = replay(FeatureRule("anchored"), f, t)
    i = 30
    mean, std = np.nanmean(f[: i + 1, 2]), np.nanstd(f[: i + 1, 2])
    assert z[i, 2] == pytest.approx(np.clip((f[i, 2] - mean) / std, -4, 4))


def test_bad_rules_and_out_of_order_windows_are_refused_with_the_way_out():
    with pytest.raises(ValueError, match="settle_s < min_s"):
        FeatureRule("anchored", min_s=100.0, settle_s=200.0)
    with pytest.raises(ValueError, match="kind 'median' is unknown"):
        FeatureRule("median")
    with pytest.raises(ValueError, match="needs calibration kind running or anchored"):
        FeatureRule.from_dict({"kind": "baseline"})
    cal = FeatureRule("running").calibrator(1)
    cal.partial_fit(np.zeros(1), 100.0)
    with pytest.raises(ValueError, match="time order"):
        cal.partial_fit(np.zeros(1), 90.0)


def test_the_bundle_form_round_trips():
    for rule in (FeatureRule("running", min_s=240.0), FeatureRule("anchored", 300.0, 60.0, 3.0)):
        assert FeatureRule.from_dict(rule.to_dict()) == rule
    assert "settle_s" not in FeatureRule("running").to_dict()
