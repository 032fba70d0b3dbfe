from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from affectstream.dsp.calibration import centre_outputs
from affectstream.model.baselines import fit_predict_features, logistic_regression
from affectstream.model.learning_curve import (
    REPEATS,
    Serving,
    learning_curve,
    subject_counts,
)
from affectstream.model.metrics import balanced_accuracy


def people(n_subjects: int, per: int = 40, seed: int = 0):
    """Two features; the class moves the first by 1 sd, each person shifts both."""
    rng = np.random.default_rng(seed)
    x, y, g = [], [], []
    for s in range(n_subjects):
        labels = np.repeat([0, 1], per // 2)
        f = rng.standard_normal((per, 2)) + rng.standard_normal(2)
        f[:, 0] += labels
        x.append(f)
        y.append(labels)
        g += [f"p{s}"] * per
    return np.vstack(x), np.concatenate(y), np.array(g)


def folds_of(groups: np.ndarray, k: int):
    from sklearn.model_selection import GroupKFold

    return list(GroupKFold(k).split(groups, groups=groups))


def test_sizes_run_from_two_subjects_to_the_whole_training_set():
    assert subject_counts(2) == []
    assert subject_counts(3) == [2, 3]
    assert subject_counts(19) == [2, 6, 10, 15, 19]


def test_curve_ends_with_the_fit_on_every_training_subject():
    x, y, g = people(9)
    folds = folds_of(g, 3)  # 6 training subjects in every fold
    rows = learning_curve(x, y, g, 2, folds, {"logreg": logistic_regression}, seed=0)
    assert [r["n_subjects"] for r in rows] == subject_counts(6)
    assert [r["repeats"] for r in rows] == [REPEATS] * (len(rows) - 1) + [1]
    pred = np.empty_like(y)
    for tr, te in folds:
        pred[te] = fit_predict_features(logistic_regression(0), x[tr], y[tr], x[te], 2).argmax(1)
    assert rows[-1]["balanced_accuracy"] == pytest.approx(balanced_accuracy(y, pred, 2))
    assert rows[-1]["sd"] == 0.0
    assert all(0.0 <= r["balanced_accuracy"] <= 1.0 for r in rows)


def test_draws_hold_every_class_or_the_size_is_left_out():
    x, y, g = people(9)
    person = np.array([int(s[1:]) for s in g])
    y = person % 3  # three classes, each person shows one only
    idx = np.arange(len(y))
    folds = [(idx[person // 3 != k], idx[person // 3 == k]) for k in range(3)]
    assert all(np.unique(y[tr]).size == 3 for tr, _ in folds)
    rows = learning_curve(x, y, g, 3, folds, {"logreg": logistic_regression}, seed=1)
    sizes = [r["n_subjects"] for r in rows]
    assert 2 not in sizes  # two people never hold three classes
    assert sizes[-1] == 6 and 3 in sizes  # three or more can, and were drawn again until they did


def test_the_full_size_point_is_served_as_the_main_table_scores_it():
    # each person's context windows (here: the two middle ones) join their output centring
    x, y, g = people(9)
    ctx_rows = np.flatnonzero(np.arange(len(y)) % 40 >= 38)
    keep = np.setdiff1d(np.arange(len(y)), ctx_rows)
    ctx_x, ctx_g = x[ctx_rows], g[ctx_rows]
    x, y, g = x[keep], y[keep], g[keep]
    order = np.arange(len(y), dtype=float)
    ctx_order = ctx_rows - 0.5

    def centre(p, cp):
        both = centre_outputs(
            np.concatenate([p, cp]), np.concatenate([g, ctx_g]), np.concatenate([order, ctx_order])
        )
        return both[: len(y)]

    folds = folds_of(g, 3)
    serving = Serving(ctx_x, [np.flatnonzero(np.isin(ctx_g, g[te])) for _, te in folds], centre)
    rows = learning_curve(x, y, g, 2, folds, {"logreg": logistic_regression}, serving=serving)
    p, cp = np.zeros((len(y), 2)), np.zeros((len(ctx_x), 2))
    for (tr, te), cte in zip(folds, serving.context_rows, strict=True):
        out = fit_predict_features(
            logistic_regression(0), x[tr], y[tr], np.concatenate([x[te], ctx_x[cte]]), 2
        )
        p[te], cp[cte] = out[: te.size], out[te.size :]
    served = balanced_accuracy(y, centre(p, cp).argmax(1), 2)
    assert rows[-1]["balanced_accuracy"] == pytest.approx(served)
    assert served != pytest.approx(balanced_accuracy(y, p.argmax(1), 2))  # centring did act
