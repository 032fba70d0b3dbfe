from __future__ import annotations

import numpy as np
import pytest

from affectstream.dsp.calibration import (
    CLIP,
    PROB_FLOOR,
    OutputCentring,
    RunningStats,
    centre_outputs,
    check_rule,
    make_calibration,
    rest_available_from,
    stats_available_at,
    warmup_s,
)


def test_running_stats_in_chunks_equal_the_whole_with_nan_skipped():
    rng = np.random.default_rng(0)
    x = rng.normal([5.0, -40.0, 33.0], [0.3, 80.0, 0.01], size=(20_000, 3))
    x[rng.random(x.shape) < 0.05] = np.nan
    rs = RunningStats(3)
    cuts = np.sort(rng.choice(np.arange(1, len(x)), size=40, replace=False))
    for part in np.split(x, cuts):
        rs.update(part)
    mean, std = rs.stats()
    np.testing.assert_allclose(mean, np.nanmean(x, axis=0), rtol=1e-10)
    np.testing.assert_allclose(std, np.nanstd(x, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(rs.count, np.isfinite(x).sum(axis=0))


def test_running_stats_without_data_or_spread_leave_the_channel_centred_only():
    rs = RunningStats(2)
    rs.update(np.array([[np.nan, 2.0], [np.nan, 2.0]]))
    mean, std = rs.stats()
    assert mean.tolist() == [0.0, 2.0] and std.tolist() == [1.0, 1.0]
    rs.update(np.array([1.0, 2.0]))  # one row as a 1-D array
    assert rs.count.tolist() == [1, 3]


def test_running_calibration_scales_every_channel_by_the_persons_spread():
    rule = check_rule({"kind": "running"})
    assert warmup_s(rule) == 300.0
    cal = make_calibration(
        rule,
        ["bvp", "eda", "temp"],
        np.zeros(3),
        np.ones(3),
        (np.array([0, 5, 33.0]), np.array([50, 0.5, 0.1])),
    )
    z = cal.apply(np.array([[50.0, 5.5, 33.0], [1e6, np.nan, 34.0]]))
    np.testing.assert_allclose(z, [[1.0, 1.0, 0.0], [CLIP, 0.0, CLIP]])


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"kind": "running", "min_s": -1}, "min_s"),
        ({"kind": "baseline", "baseline_s": 0}, "baseline_s"),
        ({"kind": "enrolment"}, "unknown"),
        ({"kind": "none", "clip": 0}, "clip"),
        ({"kind": "rest"}, "labels"),
        ({"kind": "rest", "labels": "calmness"}, "labels"),
        ({"kind": "running", "centre_output": "yes"}, "centre_output"),
    ],
)
def test_bad_rules_are_named(rule, message):
    with pytest.raises(ValueError, match=message):
        check_rule(rule)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p[..., 1] / p[..., 0])


def test_output_centring_is_the_log_odds_minus_its_mean_so_far():
    p1 = np.array([0.9, 0.6, 0.2, 0.7, 0.95])
    probs = np.c_[1 - p1, p1]
    out = OutputCentring(2).apply(probs)
    lo = np.log(p1 / (1 - p1))
    np.testing.assert_allclose(_logit(out), lo - np.cumsum(lo) / np.arange(1, 6))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert _logit(out)[0] == pytest.approx(0.0)  # the first window is the person's own mean
    # a person the model scores high throughout is judged against their own level
    assert (out[1:3].argmax(1) == 0).all() and probs[1].argmax() == 1


def test_output_centring_one_row_at_a_time_equals_the_batch_and_skips_abstentions():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=40)
    probs[5] = [1.0, 0.0, 0.0]  # an int8 softmax gives exact zeros: floored, not -inf
    probs[[7, 20]] = np.nan  # abstentions
    whole = OutputCentring(3).apply(probs)
    one = OutputCentring(3)
    rows = np.array([one.apply(p) for p in probs])
    np.testing.assert_allclose(rows, whole, rtol=1e-12)
    assert np.isnan(whole[[7, 20]]).all() and np.isfinite(whole[8]).all()
    assert one.stats.count.tolist() == [38] * 3
    ok = np.isfinite(probs).all(axis=1)
    ref = np.log(np.maximum(probs[ok], PROB_FLOOR))
    np.testing.assert_allclose(one.stats.total, ref.sum(axis=0))


def test_centre_outputs_centres_each_session_in_time_order():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet([2.0, 2.0], size=12)
    sessions = np.array(["b", "a"] * 6)
    t_end = rng.permutation(12).astype(float)
    out = centre_outputs(probs, sessions, t_end)
    for s in "ab":
        idx = np.flatnonzero(sessions == s)
        idx = idx[np.argsort(t_end[idx])]
        np.testing.assert_allclose(out[idx], OutputCentring(2).apply(probs[idx]))


def test_rest_spans_join_the_reference_when_their_rest_period_ends():
    start = np.array([0.0, 200.0, 250.0, 400.0, 590.0, 700.0, 1000.0])
    end = start + 60.0
    avail = rest_available_from(start, end, 300.0, [(240.0, 650.0), (900.0, 1200.0)])
    # in the baseline: from the start; inside a rest period: once it ends; else never
    assert avail.tolist() == [-np.inf, -np.inf, 650.0, 650.0, 650.0, np.inf, 1200.0]
    assert warmup_s(check_rule({"kind": "rest", "labels": ["calmness"]})) == 300.0


def test_stats_available_at_equal_the_statistics_of_the_rows_available_then():
    rng = np.random.default_rng(3)
    x = rng.normal([1.0, 50.0], [2.0, 0.1], size=(500, 2))
    x[rng.random(x.shape) < 0.1] = np.nan
    avail = rng.choice([-np.inf, 10.0, 20.0, 30.0, np.inf], size=500)
    at = np.array([-1.0, 10.0, 25.0, 1e9])
    mean, std = stats_available_at(x, avail, at)
    for j, t in enumerate(at):
        rs = RunningStats(2)
        rs.update(x[avail <= t])
        np.testing.assert_allclose(mean[j], rs.stats()[0], rtol=1e-9)
        np.testing.assert_allclose(std[j], rs.stats()[1], rtol=1e-6)


def test_output_offset_moves_the_two_class_threshold_and_passes_abstentions():
    from affectstream.dsp.calibration import OutputOffset

    b = 1.0  # stress is called when its odds exceed e: p > 1 / (1 + e^-1) = 0.731
    p = np.array([[0.30, 0.70], [0.25, 0.75], [np.nan, np.nan], [0.9, 0.1]])
    out = OutputOffset(0, b).apply(p)
    assert out.argmax(1)[[0, 1, 3]].tolist() == [0, 1, 0]
    assert np.isnan(out[2]).all()
    np.testing.assert_allclose(out[[0, 1, 3]].sum(1), 1.0)
    np.testing.assert_allclose(OutputOffset(0, 0.0).apply(p[:2]), p[:2])


def test_the_offset_for_a_false_alarm_rate_calls_that_share_of_calm_windows_otherwise():
    from affectstream.dsp.calibration import OutputOffset, offset_for_false_alarms

    rng = np.random.default_rng(0)
    ps = rng.uniform(0.05, 0.95, 2000)
    calm = np.stack([1 - ps, ps], 1)
    for rate in (0.05, 0.1, 0.3):
        b = offset_for_false_alarms(calm, 0, rate)
        called = OutputOffset(0, b).apply(calm).argmax(1) != 0
        assert abs(called.mean() - rate) < 0.01
    with pytest.raises(ValueError, match="fraction in"):
        offset_for_false_alarms(calm, 0, 1.5)
    assert offset_for_false_alarms(np.empty((0, 2)), 0, 0.1) == 0.0
