"""Nested selection: no test person's window reaches any choice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from affectstream.model.feature_calibration import FeatureRule
from affectstream.model.nested import Candidate, PrevalenceSets, choose, nested_evaluation
from affectstream.model.windows import WindowSet

RULES = [FeatureRule("running"), FeatureRule("anchored")]
CANDIDATES = [Candidate(r, c) for r in RULES for c in (0.1, 1.0)]
N_WIN = 60  # windows per session, every 15 s from 60 s on
STRESS = slice(25, 41)


def _set(subjects: list[str], keep: str, seed: int = 0) -> WindowSet:
    """Sessions of a person whose feature 0 rises by 1 during stress, 2 features; ``keep``:
    which windows the set holds (``normal``: all, ``calm``: rest outside stress + 120 s,
    ``heavy``: stress and a third of rest)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("f", "y", "subj", "sess", "t", "row")}
    schedule = {}
    t_end = 60.0 + 15.0 * np.arange(N_WIN)
    for si, s in enumerate(subjects):
        y = np.zeros(N_WIN, dtype=np.int64)
        y[STRESS] = 1
        f = np.stack([si * 0.3 + y + rng.normal(0, 0.5, N_WIN), rng.normal(0, 1, N_WIN)], 1)
        after = np.zeros(N_WIN, bool)
        after[STRESS.stop : STRESS.stop + 8] = True
        mask = {
            "normal": np.ones(N_WIN, bool),
            "calm": (y == 0) & ~after,
            "heavy": (y == 1) | (np.arange(N_WIN) % 3 == 0),
        }[keep]
        key = f"{s}#{keep}"
        schedule[key] = (t_end, np.where(mask[:, None], f, np.nan))
        for i in np.flatnonzero(mask):
            for k, v in zip(rows, (f[i], y[i], s, key, t_end[i], i), strict=True):
                rows[k].append(v)
    n = len(rows["y"])
    return WindowSet(
        x=np.zeros((n, 1, 1), np.float32),
        features=np.array(rows["f"]),
        y=np.array(rows["y"]),
        subject=np.array(rows["subj"]),
        session=np.array(rows["sess"]),
        t_end=np.array(rows["t"]),
        running_frames=(np.zeros((n, 1)), np.ones((n, 1))),
        running_features=(np.zeros((n, 2)), np.ones((n, 2))),
        classes=["rest", "stress"],
        channel_names=["x"],
        feature_names=["a", "b"],
        rate=1.0,
        window_s=60.0,
        hop_s=15.0,
        has_subject_ids=True,
        schedule=schedule,
        schedule_row=np.array(rows["row"]),
    )


def _sets(subjects: list[str]) -> PrevalenceSets:
    return PrevalenceSets.build(
        _set(subjects, "normal"), _set(subjects, "calm"), _set(subjects, "heavy"), 0, RULES
    )


def _scramble(ws: WindowSet, who: np.ndarray, seed: int) -> WindowSet:
    """``ws`` with the windows and labels of people ``who`` replaced by noise."""
    rng = np.random.default_rng(seed)
    y, schedule = ws.y.copy(), dict(ws.schedule)
    rows = np.isin(ws.subject, who)
    y[rows] = rng.integers(0, 2, rows.sum())
    for key in np.unique(ws.session[rows]):
        t, f = schedule[key]
        schedule[key] = (t, rng.normal(5, 3, f.shape))
    return dataclasses.replace(ws, y=y, schedule=schedule)


SUBJECTS = [f"P{i}" for i in range(8)]


def test_test_people_never_reach_a_choice():
    base = _sets(SUBJECTS)
    train, test = np.array(SUBJECTS[:6]), np.array(SUBJECTS[6:])
    a = choose(base, train, CANDIDATES, 0.1, seed=0, n_inner=3)
    scrambled = PrevalenceSets.build(
        *(_scramble(getattr(base, n), test, i) for i, n in enumerate(("normal", "calm", "heavy"))),
        0,
        RULES,
    )
    b = choose(scrambled, train, CANDIDATES, 0.1, seed=0, n_inner=3)
    assert a.candidate == b.candidate and a.log_offset == b.log_offset
    assert a.inner_scores == b.inner_scores
    np.testing.assert_array_equal(a.model[-1].coef_, b.model[-1].coef_)
    # the control: the same scrambling of one *training* person changes what is chosen on
    leaky = PrevalenceSets.build(
        *(
            _scramble(getattr(base, n), train[:1], i)
            for i, n in enumerate(("normal", "calm", "heavy"))
        ),
        0,
        RULES,
    )
    c = choose(leaky, train, CANDIDATES, 0.1, seed=0, n_inner=3)
    assert c.inner_scores != a.inner_scores


def test_the_operating_point_holds_the_calm_false_alarms_near_the_target():
    sets = _sets(SUBJECTS)
    folds = [
        (np.array(SUBJECTS[:4]), np.array(SUBJECTS[4:])),
        (np.array(SUBJECTS[4:]), np.array(SUBJECTS[:4])),
    ]
    res = nested_evaluation(sets, folds, CANDIDATES, 0.1, seed=0, permutations=20)
    proc = res["procedure"]
    assert proc["balanced_accuracy"] > 0.7  # feature 0 carries the label
    assert proc["calm_day"]["false_alarm_rate"] < 0.3
    assert proc["stress_heavy"]["sensitivity"] > 0.5
    assert [f["fold"] for f in res["folds"]] == [1, 2]


def test_a_person_on_both_sides_of_an_outer_fold_is_refused():
    sets = _sets(SUBJECTS)
    folds = [(np.array(SUBJECTS[:5]), np.array(SUBJECTS[4:]))]
    with pytest.raises(ValueError, match="both training and test"):
        nested_evaluation(sets, folds, CANDIDATES, 0.1, seed=0, permutations=0)


def test_training_settings_for_the_selection_are_checked_with_the_key():
    from affectstream.model.train_config import TrainConfig

    with pytest.raises(ValueError, match="false_alarm_rate = 0"):
        TrainConfig.from_dict({"false_alarm_rate": 0})
    with pytest.raises(ValueError, match="running or anchored; got 'median'"):
        TrainConfig.from_dict({"feature_rules": [{"kind": "median"}]})
    assert TrainConfig().feature_rules == [{"kind": "running"}, {"kind": "anchored"}]
