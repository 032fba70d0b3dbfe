"""Scores that cannot fool their reader: balanced accuracy, macro-F1, intervals across subjects,
confusion matrices and a permutation test that respects time order."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present in ``y``."""
    recalls = [np.mean(pred[y == c] == c) for c in range(n_classes) if np.any(y == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean F1 over the classes present in ``y`` or ``pred``."""
    f1s = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else float("nan")


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows true class, columns predicted class, shape ``(n_classes, n_classes)``."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of per-subject values: ``(mean, low, high)``."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - h, m + h


def shift_permutation_pvalue(
    y: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    n_permutations: int = 1000,
    seed: int = 0,
) -> float:
    """p-value of the pooled balanced accuracy against labels shifted in time within each group.

    Each permutation rotates every group's label sequence by a random offset, which keeps the
    labels' block structure (consecutive windows share labels) and breaks only their alignment
    with the predictions. Shuffling windows one by one would ignore that structure and give
    p-values far too small. ``y``, ``pred`` and ``groups`` must be in time order within groups.
    """
    rng = np.random.default_rng(seed)
    observed = balanced_accuracy(y, pred, n_classes)
    idx_by_group = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    hits = 0
    yp = y.copy()
    for _ in range(n_permutations):
        for idx in idx_by_group:
            yp[idx] = np.roll(y[idx], int(rng.integers(0, idx.size)))
        if balanced_accuracy(yp, pred, n_classes) >= observed:
            hits += 1
    return (hits + 1) / (n_permutations + 1)


def group_permutation_pvalue(
    y: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    n_permutations: int = 1000,
    seed: int = 0,
) -> float:
    """p-value of the pooled balanced accuracy against labels permuted between groups.

    For data whose groups each carry one label (one-minute records with no subject ids: every
    record is its own group), where a shift inside a group changes nothing. Each permutation
    gives every group the label of another group (all of its windows alike), which keeps the
    windows of one record together, as the split does.
    """
    rng = np.random.default_rng(seed)
    observed = balanced_accuracy(y, pred, n_classes)
    names, inverse = np.unique(groups, return_inverse=True)
    label = np.zeros(names.size, dtype=y.dtype)
    label[inverse] = y
    hits = 0
    for _ in range(n_permutations):
        if balanced_accuracy(rng.permutation(label)[inverse], pred, n_classes) >= observed:
            hits += 1
    return (hits + 1) / (n_permutations + 1)


def permutation_pvalue(
    y: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    n_permutations: int = 1000,
    seed: int = 0,
) -> tuple[float, str]:
    """The permutation test that can move the labels of these groups: circular shifts inside
    each group (:func:`shift_permutation_pvalue`) where some group holds more than one label,
    else labels permuted between groups (:func:`group_permutation_pvalue`).

    Returns ``(p_value, how)``, ``how`` a phrase for the report.
    """
    varied = any(np.unique(y[groups == g]).size > 1 for g in np.unique(groups))
    if varied:
        p = shift_permutation_pvalue(y, pred, groups, n_classes, n_permutations, seed)
        return p, f"{n_permutations} circular shifts of each group's label sequence"
    p = group_permutation_pvalue(y, pred, groups, n_classes, n_permutations, seed)
    return p, (
        f"{n_permutations} permutations of the labels between groups (each group carries one "
        "label, so shifts inside a group would change nothing)"
    )


def summarize(
    y: np.ndarray, pred: np.ndarray, subjects: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Pooled scores, the per-subject table and the interval across subjects."""
    k = len(classes)
    per = {}
    for s in np.unique(subjects):
        m = subjects == s
        per[str(s)] = {
            "n_windows": int(m.sum()),
            "balanced_accuracy": balanced_accuracy(y[m], pred[m], k),
            "macro_f1": macro_f1(y[m], pred[m], k),
        }
    mean, lo, hi = mean_interval([p["balanced_accuracy"] for p in per.values()])
    fmean, flo, fhi = mean_interval([p["macro_f1"] for p in per.values()])
    return {
        "balanced_accuracy": balanced_accuracy(y, pred, k),
        "macro_f1": macro_f1(y, pred, k),
        "subject_balanced_accuracy": {"mean": mean, "ci95": [lo, hi]},
        "subject_macro_f1": {"mean": fmean, "ci95": [flo, fhi]},
        "confusion": confusion(y, pred, k).tolist(),
        "per_subject": per,
    }


#: Edges (seconds into the labelled period at the window's start) of :func:`recall_by_age`.
AGE_EDGES_S = (0.0, 60.0, 180.0, 600.0)


def recall_by_age(
    y: np.ndarray,
    pred: np.ndarray,
    age_s: np.ndarray,
    classes: Sequence[str],
    edges: Sequence[float] = AGE_EDGES_S,
) -> list[dict[str, Any]]:
    """Share of each class's windows predicted right, by how long the labelled period had
    lasted when the window began (``age_s``, seconds; bins ``[edges[i], edges[i+1])``, the last
    open-ended). One row per non-empty (class, bin): ``class``, ``from_s``, ``to_s`` (None:
    open), ``n_windows``, ``recall``."""
    bounds = [*edges, np.inf]
    rows = []
    for c, name in enumerate(classes):
        for lo, hi in itertools.pairwise(bounds):
            m = (y == c) & (age_s >= lo) & (age_s < hi)
            if m.any():
                rows.append(
                    {
                        "class": name,
                        "from_s": float(lo),
                        "to_s": None if np.isinf(hi) else float(hi),
                        "n_windows": int(m.sum()),
                        "recall": float((pred[m] == c).mean()),
                    }
                )
    return rows
