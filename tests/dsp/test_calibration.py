from __future__ import annotations

import numpy as np
import pytest

from affectstream.dsp.calibration import (
    CLIP,
    RunningStats,
    check_rule,
    make_calibration,
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
    ],
)
def test_bad_rules_are_named(rule, message):
    with pytest.raises(ValueError, match=message):
        check_rule(rule)
