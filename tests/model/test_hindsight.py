from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.metrics import roc_auc_score

from affectstream.dsp.calibration import PROB_FLOOR
from affectstream.model.hindsight import (
    best_threshold_predictions,
    hindsight_figures,
    person_centred,
    within_person_auc,
)


def two_people(n: int = 40, seed: int = 0):
    """Two people whose model output sits at very different levels: within each person the
    stress windows score higher, but one person's rest scores above the other's stress."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n)  # (2n,): n windows per person
    subject = np.repeat(["a", "b"], n)
    level = np.where(subject == "a", -3.0, 3.0)
    odds = level + np.where(y == 1, 1.0, -1.0) + 0.3 * rng.standard_normal(2 * n)
    p1 = 1.0 / (1.0 + np.exp(-odds))
    return y, np.stack([1 - p1, p1], axis=1), subject


def test_person_centred_subtracts_each_persons_mean_over_scored_and_context_windows():
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    people = np.array(["s", "s", "t", "s", "t"])
    out = person_centred(probs, people, n_rows=3)  # the last two rows are context
    logp = np.log(np.maximum(probs, PROB_FLOOR))
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out[0], logp[0] - logp[[0, 1, 3]].mean(axis=0))
    np.testing.assert_allclose(out[2], logp[2] - logp[[2, 4]].mean(axis=0))


def test_best_threshold_per_person_uses_each_persons_own_cut():
    y, probs, subject = two_people()
    odds = np.log(probs[:, 1] / probs[:, 0])
    pred = best_threshold_predictions(odds, y, subject)
    assert np.mean(pred == y) == 1.0  # separable within each person
    assert abs(np.mean((odds > 0) == y) - 0.5) < 0.01  # one global cut: chance
    # a person with one class only: any cut beyond their scores gets them all right
    one = best_threshold_predictions(odds[:5], np.ones(5, dtype=int), np.array(["c"] * 5))
    assert one.tolist() == [1] * 5


def test_within_person_auc_is_the_mean_of_each_persons_auc():
    y, probs, subject = two_people(seed=3)
    odds = np.log(probs[:, 1] / probs[:, 0])
    odds[:10] = -odds[:10]  # spoil part of person a's ranking
    want = np.mean([roc_auc_score(y[subject == s], odds[subject == s]) for s in ("a", "b")])
    assert within_person_auc(odds, y, subject) == pytest.approx(want)
    assert want < 1.0 and roc_auc_score(y, odds) < want  # pooled ranking mixes the levels


def test_hindsight_figures_bound_what_per_person_calibration_can_reach():
    y, probs, subject = two_people()
    no_ctx = np.zeros((0, 2))
    h = hindsight_figures(y, probs, subject, no_ctx, np.array([], str), ["rest", "task"])
    assert h["person_centred"] == pytest.approx(1.0)
    assert h["best_threshold_per_person"] == pytest.approx(1.0)
    assert h["within_person_auc"] == pytest.approx(1.0)
    # context windows of one person that score very high move that person's mean up
    ctx = np.tile([[0.0, 1.0]], (200, 1))
    h2 = hindsight_figures(y, probs, subject, ctx, np.array(["a"] * 200), ["r", "t"])
    assert h2["person_centred"] < 0.8
    # more than two classes: no threshold on log-odds, no binary AUC
    p3 = np.concatenate([probs, np.full((len(y), 1), 0.1)], axis=1)
    p3 /= p3.sum(axis=1, keepdims=True)
    h3 = hindsight_figures(y, p3, subject, np.zeros((0, 3)), np.array([], str), list("abc"))
    assert h3["best_threshold_per_person"] is None and h3["within_person_auc"] is None
    assert 0 <= h3["person_centred"] <= 1
