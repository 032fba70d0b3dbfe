from __future__ import annotations

import numpy as np
import pytest

from affectstream.model.folds import SplitError, leaky_folds, plan_folds
from affectstream.model.metrics import permutation_pvalue, shift_permutation_pvalue

pytest.importorskip("sklearn")

CLASSES = [str(c) for c in range(6)]


def record_order(records_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels 0..5 in record order, one window per record, no subject ids (groups = records)."""
    y = np.repeat(np.arange(6), records_per_class)
    return y, np.array([f"record{i:04d}" for i in range(y.size)])


def test_labels_in_record_order_keep_every_class_in_every_training_fold():
    y, groups = record_order(4)
    plan = plan_folds(y, groups, CLASSES, "groupkfold", 6, by="recording")
    assert plan.kind == "stratified group k-fold" and plan.by == "recording"
    # four records per class: four folds, and the report says why not six
    assert plan.n_folds == 4 and plan.requested == 6
    assert any("4 folds instead of the 6" in n and "'0'" in n for n in plan.notes)
    seen = np.zeros(y.size, dtype=int)
    for tr, te in plan.folds:
        assert np.unique(y[tr]).size == 6
        assert not set(groups[tr]) & set(groups[te])
        seen[te] += 1
    assert (seen == 1).all()


def test_subject_ids_give_subject_folds_and_leave_one_out():
    y = np.tile(np.repeat(np.arange(6), 2), 3)  # 3 people, 2 records per class, in class order
    groups = np.repeat(["a", "b", "c"], 12)
    plan = plan_folds(y, groups, CLASSES, "groupkfold", 6)
    assert plan.n_folds == 3 and "only 3 subjects" in plan.notes[0]
    loso = plan_folds(y, groups, CLASSES, "loso", 6)
    assert loso.n_folds == 3 and loso.kind == "leave one subject out"
    for tr, te in loso.folds:
        assert np.unique(groups[te]).size == 1 and np.unique(y[tr]).size == 6


def test_a_class_of_one_group_is_refused_with_the_reason():
    y, groups = record_order(3)
    y = np.concatenate([y, [6]])  # a seventh class with one record
    groups = np.concatenate([groups, ["record9999"]])
    with pytest.raises(SplitError, match=r"'6' \(1 recording\).*at least 2 recordings"):
        plan_folds(y, groups, [*CLASSES, "6"], "groupkfold", 6, by="recording")
    with pytest.raises(SplitError, match="at least 2"):
        plan_folds(np.zeros(5, dtype=int), np.zeros(5), ["a"], "loso", 6)


def test_leaky_folds_fit_the_smallest_class():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    assert len(leaky_folds(y, 5)) == 2
    assert leaky_folds(np.array([0, 0, 1]), 5) == []


def test_permutation_between_groups_when_each_group_has_one_label():
    y, groups = record_order(4)
    # one window per record: shifting a record's labels in place changes nothing, so the old
    # test says p = 1 even for a perfect model
    assert shift_permutation_pvalue(y, y, groups, 6, 200) == 1.0
    p, how = permutation_pvalue(y, y, groups, 6, 200)
    assert p < 0.01 and "between groups" in how
    rng = np.random.default_rng(0)
    p_noise, _ = permutation_pvalue(y, rng.integers(0, 6, y.size), groups, 6, 200)
    assert p_noise > 0.05
    # groups holding several labels keep the circular shifts inside each group
    subj = np.repeat(["a", "b", "c", "d"], 6)
    yy = np.tile(np.arange(6), 4)
    _, how = permutation_pvalue(yy, yy, subj, 6, 50)
    assert "circular shifts" in how
