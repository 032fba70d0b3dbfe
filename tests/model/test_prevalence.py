from __future__ import annotations

import numpy as np

from affectstream.dsp.presets import E4_CONFIG
from affectstream.model.prevalence import CALM_DAY_AFTER_S, calm_day, cut_out, stress_heavy
from affectstream.model.windows import make_windows


def _stress(rec):
    return [(iv.start, iv.end) for iv in rec.labels if iv.label == "stress"]


def test_a_calm_day_has_no_stress_window_and_keeps_rest_on_its_own_clock(excerpt):
    calm = calm_day(excerpt, ["non-stress"])
    assert {iv.label for iv in calm.labels} == {"non-stress"}
    for a, b in _stress(excerpt):
        for s in calm.signals.values():
            t = s.times()
            assert not ((t >= a) & (t < b + CALM_DAY_AFTER_S)).any()
    # rest samples keep their times: the first minutes are untouched
    bvp, bvp0 = calm.signals["bvp"], excerpt.signals["bvp"]
    np.testing.assert_array_equal(bvp.times()[:1000], bvp0.times()[:1000])
    ws = make_windows([calm], E4_CONFIG, classes=["non-stress", "stress"])
    assert len(ws) > 10 and (ws.y == 0).all()
    # no kept window overlaps a cut: windows across one lack data and are abstained on
    t1 = ws.t_end + excerpt.start_time
    for a, b in _stress(excerpt):
        assert not ((t1 > a) & (t1 - ws.window_s < b + CALM_DAY_AFTER_S)).any()
    assert (t1 > max(b for _, b in _stress(excerpt)) + CALM_DAY_AFTER_S).any()  # rest after


def test_a_stress_heavy_session_keeps_every_stress_window_and_a_third_of_rest(excerpt):
    normal = make_windows([excerpt], E4_CONFIG)
    heavy = make_windows([stress_heavy(excerpt, ["non-stress"])], E4_CONFIG)
    s = normal.classes.index("stress")
    np.testing.assert_array_equal(normal.t_end[normal.y == s], heavy.t_end[heavy.y == s])
    np.testing.assert_allclose(normal.features[normal.y == s], heavy.features[heavy.y == s])
    rest_s = sum(iv.duration for iv in excerpt.labels if iv.label == "non-stress")
    kept = sum(iv.duration for iv in heavy_labels(excerpt) if iv.label == "non-stress")
    assert abs(kept - rest_s / 3) < 1.0
    assert (heavy.y != s).sum() < (normal.y != s).sum()


def heavy_labels(rec):
    return stress_heavy(rec, ["non-stress"]).labels


def test_cut_out_splits_labels_around_the_cuts(excerpt):
    t0 = excerpt.start_time
    iv = excerpt.labels[0]
    rec = cut_out(excerpt, [(iv.start + 60, iv.start + 120)], "test")
    pieces = [x for x in rec.labels if x.label == iv.label and x.end <= iv.end]
    assert (pieces[0].start, pieces[0].end) == (iv.start, iv.start + 60)
    assert pieces[1].start == iv.start + 120
    assert rec.session.endswith(":test") and rec.signals["eda"].start_time == t0
