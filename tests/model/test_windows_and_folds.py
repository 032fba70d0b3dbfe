from __future__ import annotations

import numpy as np
import pytest

from affectstream.data import Recording, Signal
from affectstream.data.recording import LabelInterval
from affectstream.dsp.calibration import check_rule
from affectstream.dsp.features import window_features
from affectstream.dsp.preprocessor import Preprocessor
from affectstream.dsp.presets import E4_CONFIG
from affectstream.dsp.quality import window_quality
from affectstream.model.calibrated import (
    calibrated_features,
    calibrated_inputs,
    fit_global,
    warm_rows,
)
from affectstream.model.metrics import (
    balanced_accuracy,
    macro_f1,
    mean_interval,
    recall_by_age,
    shift_permutation_pvalue,
)
from affectstream.model.train_config import TrainConfig
from affectstream.model.training import collect_warnings, make_folds
from affectstream.model.windows import make_windows


def fake_subject(name: str, seed: int, minutes: int = 12) -> Recording:
    rng = np.random.default_rng(seed)
    n = minutes * 60
    t0 = 1000.0 * seed
    sigs = {
        "bvp": Signal(rng.standard_normal(n * 64), 64.0, t0, ("bvp",)),
        "eda": Signal(2 + 0.1 * rng.standard_normal(n * 4), 4.0, t0, ("eda",)),
        "temp": Signal(np.full(n * 4, 33.0), 4.0, t0, ("temp",)),
    }
    labels = [LabelInterval("rest", t0, t0 + n / 2), LabelInterval("task", t0 + n / 2, t0 + n)]
    return Recording(sigs, subject=name, session=name, labels=labels)


@pytest.fixture(scope="module")
def windows():
    recs = [fake_subject(f"s{i}", i + 1) for i in range(6)]
    return make_windows(recs, E4_CONFIG, window_s=60.0, hop_s=20.0)


def test_windows_are_labelled_only_when_one_label_covers_them(windows):
    assert windows.classes == ["rest", "task"]
    assert windows.x.shape[1:] == (60 * 32, 3)
    assert windows.mixed_label_windows > 0  # the ones across the change were left out
    # how long the labelled period had lasted at each window's start: the task starts at 6 min
    task = windows.y == 1
    start = windows.t_end - 60.0
    assert windows.label_age[task].min() >= 0 and windows.label_age[~task].min() >= 0
    offset = windows.label_age[task] - (start[task] - 360.0)
    assert np.ptp(offset) < 1e-6 and abs(offset[0]) < 1.0 / windows.rate  # grid phase only
    for key, st in windows.sessions.items():
        rows = windows.session == key
        assert np.all(windows.t_end[rows] <= st.n_frames / windows.rate + 1e-9)


def test_windows_across_the_label_change_are_kept_as_unscored_context(windows):
    ctx = windows.context
    assert ctx is not None and ctx.context is None
    assert len(ctx) == windows.mixed_label_windows == windows.dropped_unlabelled
    assert (ctx.y == -1).all() and ctx.counts() == {"rest": 0, "task": 0}
    for key in windows.sessions:
        lab = windows.t_end[windows.session == key]
        mid = ctx.t_end[ctx.session == key]
        # one schedule: every hop's window is labelled or context, never both; the context
        # ones straddle the change at 360 s
        both = np.sort(np.concatenate([lab, mid]))
        np.testing.assert_allclose(np.diff(both), 20.0)
        assert ((mid - 60.0 < 360.0) & (mid > 360.0)).all()
    # context carries what the models need to predict it: frames, features, running statistics
    assert ctx.x.shape[1:] == windows.x.shape[1:] and ctx.features.shape[1] == 14
    assert ctx.running_frames[0].shape == (len(ctx), 3)
    assert np.isnan(ctx.label_age).all()
    assert windows.subset(np.arange(3)).context is ctx  # kept whole, like the session statistics
    assert windows.context_windows() is ctx and len(ctx.context_windows()) == 0


def test_windows_the_monitor_abstains_on_are_neither_trained_nor_centred():
    # the wrist sensor loses contact for three minutes of the rest period: the pulse wave reads 0
    rec = fake_subject("s0", 1)
    rec.signals["bvp"].data[120 * 64 : 300 * 64] = 0.0
    ws = make_windows([rec], E4_CONFIG, window_s=60.0, hop_s=20.0)
    frames = Preprocessor(E4_CONFIG).process_recording(rec)
    n_win, n_hop = 60 * 32, 20 * 32
    t_end = np.arange(n_win, len(frames) + 1, n_hop) / 32.0
    why = [
        window_quality(frames.x[int(e * 32) - n_win : int(e * 32)], ws.channel_names, 32.0)[1]
        for e in t_end
    ]
    flat = {round(float(e), 3) for e, w in zip(t_end, why, strict=True) if w is not None}
    assert len(flat) >= 4 and all("bvp flat line" in w for w in why if w is not None)
    kept = {round(float(e), 3) for e in np.concatenate([ws.t_end, ws.context.t_end])}
    # the same rule as the monitor's: every other window is kept, labelled or as context
    assert kept == {round(float(e), 3) for e in t_end} - flat
    assert ws.dropped_poor_quality == len(flat) and ws.dropped_missing == 0
    # and the report says so
    assert any(f"{len(flat)} windows had a flat" in m for m in collect_warnings(ws))


def test_windows_hold_exactly_what_the_preprocessor_makes(windows):
    rec = fake_subject("s0", 1)
    frames = Preprocessor(E4_CONFIG).process_recording(rec)
    first = windows.x[windows.session == windows.session[0]][0]
    assert np.array_equal(first, frames.x[: 60 * 32].astype(np.float32))


def test_running_calibration_uses_the_persons_frames_up_to_each_window_end(windows):
    rec = fake_subject("s0", 1)
    frames = Preprocessor(E4_CONFIG).process_recording(rec).x
    rows = np.flatnonzero(windows.session == windows.session[0])
    rule = check_rule({"kind": "running", "min_s": 0})
    x = calibrated_inputs(windows, rows, rule, *fit_global(windows, windows.session, rule))
    for j, i in enumerate(rows):
        end = int(round(windows.t_end[i] * windows.rate))
        mean, std = np.nanmean(frames[:end], axis=0), np.nanstd(frames[:end], axis=0)
        np.testing.assert_allclose(windows.running_frames[0][i], mean, rtol=1e-9, atol=1e-12)
        expect = (frames[end - 60 * 32 : end] - mean) / np.where(std > 0, std, 1.0)
        np.testing.assert_allclose(x[j], np.clip(expect, -4, 4), atol=1e-4)
    # features are z-scored with the statistics of every window so far, not of later ones
    f = calibrated_features(windows, rows, rule)
    fm, fs = windows.running_features
    np.testing.assert_allclose(f, (windows.features[rows] - fm[rows]) / fs[rows])
    assert not np.allclose(fm[rows[0]], fm[rows[-1]])


@pytest.mark.parametrize("split", ["groupkfold", "loso"])
def test_no_subject_in_train_and_test(windows, split):
    folds = make_folds(windows, split, 3)
    assert len(folds) == (3 if split == "groupkfold" else 6)
    seen = set()
    for tr, te in folds:
        assert not set(windows.subject[tr]) & set(windows.subject[te])
        seen |= set(te)
    assert seen == set(range(len(windows)))  # every window is tested exactly once overall


def test_baseline_calibration_uses_the_persons_first_minutes(windows):
    rule = check_rule({"kind": "baseline", "baseline_s": 300})
    idx = np.arange(len(windows))
    gc, gs = fit_global(windows, np.unique(windows.session), rule)
    x = calibrated_inputs(windows, idx, rule, gc, gs)
    st = windows.sessions[windows.session[0]]
    raw = windows.x[0].astype(np.float64)
    clip = rule["clip"]
    expected_eda = (raw[:, 1] - st.baseline_mean[1]) / gs[1]
    assert np.allclose(x[0][:, 1], np.clip(expected_eda, -clip, clip), atol=1e-5)
    expected_bvp = (raw[:, 0] - st.baseline_mean[0]) / st.baseline_std[0]
    assert np.allclose(x[0][:, 0], np.clip(expected_bvp, -clip, clip), atol=1e-5)
    assert np.abs(x).max() <= clip


def test_rest_calibration_uses_the_baseline_and_the_rest_periods_ended_before_the_window():
    # rest for the first 6 minutes, then the task: a window starting before 360 s is calibrated
    # on the 300 s baseline only, one starting after it on the whole rest period
    rec = fake_subject("s0", 1)
    ws = make_windows([rec], E4_CONFIG, window_s=60.0, hop_s=20.0, rest_labels=["rest"])
    fr = Preprocessor(E4_CONFIG).process_recording(rec)
    rate, n_win, n_hop = fr.rate, 60 * 32, 20 * 32
    starts = np.arange(0, len(fr) - n_win + 1, n_hop)
    feats = np.array(
        [
            window_features(fr.x[a : a + n_win], ws.channel_names, rate, k0=int(fr.k[a]))
            for a in starts
        ]
    )
    rule = check_rule({"kind": "rest", "labels": ["rest"]})
    rows = warm_rows(ws, rule)
    assert rows.size and ws.t_end[rows].min() >= 300.0
    z = calibrated_features(ws, rows, rule)
    x = calibrated_inputs(ws, rows, rule, *fit_global(ws, ws.session, rule))
    for j, i in enumerate(rows):
        t0 = ws.t_end[i] - 60.0
        cut = 300.0 if t0 < 360.0 else 360.0
        ref = fr.x[: int(cut * rate)]
        np.testing.assert_allclose(ws.rest_frames[0][i], np.nanmean(ref, axis=0), rtol=1e-9)
        ref_f = feats[(starts / rate + 60.0) <= cut + 1e-9]
        mean, std = np.nanmean(ref_f, axis=0), np.nanstd(ref_f, axis=0)
        expect = np.clip((ws.features[i] - mean) / np.where(std > 0, std, 1.0), -4, 4)
        np.testing.assert_allclose(z[j], expect, rtol=1e-6, atol=1e-9)
        bvp = (ws.x[i][:, 0] - ws.rest_frames[0][i][0]) / ws.rest_frames[1][i][0]
        np.testing.assert_allclose(x[j][:, 0], np.clip(bvp, -4, 4), atol=1e-4)
    assert {300.0, 360.0} == {300.0 if t - 60 < 360 else 360.0 for t in ws.t_end[rows]}


def test_rest_calibration_of_no_context_windows_is_empty_not_an_error():
    # 60 s hops meet the label change at 360 s exactly: no window straddles it, no context
    recs = [fake_subject(f"s{i}", i + 1) for i in range(2)]
    ws = make_windows(recs, E4_CONFIG, window_s=60.0, hop_s=60.0, rest_labels=["rest"])
    ctx = ws.context_windows()
    assert len(ctx) == 0
    rule = check_rule({"kind": "rest", "labels": ["rest"], "baseline_s": 120})
    assert calibrated_features(ctx, np.arange(0), rule).shape == (0, len(ws.feature_names))
    x = calibrated_inputs(ctx, np.arange(0), rule, *fit_global(ws, ws.session, rule))
    assert x.shape == (0, 60 * 32, len(ws.channel_names))


def test_rest_calibration_needs_rest_labels_among_the_classes(windows):
    with pytest.raises(ValueError, match=r"calibration.labels"):
        make_windows([fake_subject("s0", 1)], E4_CONFIG, rest_labels=["calm"])
    with pytest.raises(ValueError, match="rest_labels"):  # windows cut without them
        calibrated_features(windows, np.arange(3), {"kind": "rest", "labels": ["rest"]})


@pytest.mark.parametrize(
    "rule, first_end",
    [
        ({"kind": "none"}, 0.0),
        ({"kind": "subject"}, 0.0),
        ({"kind": "rest", "labels": ["rest"], "baseline_s": 200}, 200.0),
        ({"kind": "baseline", "baseline_s": 300}, 300.0),
        ({"kind": "running", "min_s": 240}, 240.0),
    ],
)
def test_training_keeps_only_windows_the_monitor_would_predict(windows, rule, first_end):
    rows = warm_rows(windows, rule)
    assert np.all(windows.t_end[rows] >= first_end - 1e-9)
    # and every such window: none ending after the baseline or warm-up is dropped
    assert rows.size == int(np.sum(windows.t_end >= first_end - 1e-9))


def test_metrics():
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0, 0, 0, 0, 0, 1])
    assert balanced_accuracy(y, p, 2) == pytest.approx(0.75)
    assert macro_f1(y, p, 2) == pytest.approx((2 * 4 / 9 + 2 / 3) / 2)
    m, lo, hi = mean_interval([0.6, 0.7, 0.8])
    assert m == pytest.approx(0.7) and lo < 0.7 < hi
    rows = recall_by_age(y, p, np.array([0, 30, 100, 700, 10, 200.0]), ["rest", "task"])
    got = {(r["class"], r["from_s"]): (r["n_windows"], r["recall"]) for r in rows}
    assert got == {
        ("rest", 0.0): (2, 1.0),
        ("rest", 60.0): (1, 1.0),
        ("rest", 600.0): (1, 1.0),
        ("task", 0.0): (1, 0.0),
        ("task", 180.0): (1, 1.0),
    }
    assert [r["to_s"] for r in rows if r["class"] == "rest"] == [60.0, 180.0, None]


def test_permutation_test_separates_signal_from_noise():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(8), 40)
    y = np.tile(np.repeat([0, 1], 20), 8)
    good = np.where(rng.random(y.size) < 0.85, y, 1 - y)
    noise = np.tile(np.repeat([1, 0, 1, 0], 10), 8)  # blocky predictions unrelated to y
    assert shift_permutation_pvalue(y, good, groups, 2, 200) < 0.01
    assert shift_permutation_pvalue(y, noise, groups, 2, 200) > 0.05


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match=r"\[cnn\] has unknown key"):
        TrainConfig.from_dict({"cnn": {"epoch": 3}})
    with pytest.raises(ValueError, match="split"):
        TrainConfig.from_dict({"split": "random"})
    bad = tmp_path / "t.toml"
    bad.write_text("window_s = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        TrainConfig.from_toml(bad)
