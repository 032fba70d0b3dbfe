"""How far per-person calibration could go with hindsight: bounds for the report, not live figures.

A live monitor calibrates each person causally, from their data so far. Two things it cannot
know bound what any better per-person calibration of the same model output could reach:

- all of the person's data: the output centred on its mean over every window of the person,
  future included (:func:`person_centred`);
- the person's labels: the threshold on the model's log-odds that is best for that person
  (two classes only).

With the within-person ranking (the mean over people of the ROC AUC of the log-odds inside
each person's data) they say where a shortfall lies: a served figure far below the bounds
is the causal calibration's; bounds that are low too are the signal's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from affectstream.dsp.calibration import floored_log
from affectstream.model.metrics import balanced_accuracy


def person_centred(probs: np.ndarray, people: np.ndarray, n_rows: int) -> np.ndarray:
    """Class log-probabilities ``(n_rows, n_classes)`` centred on each person's mean.

    ``probs`` ``(n, n_classes)``: the rows to score first (``n_rows`` of them), then any other
    windows of the same people (context) that join the mean; ``people`` ``(n,)``. Floored as
    output centring floors them (:func:`~affectstream.dsp.calibration.floored_log`).
    """
    logp = floored_log(probs)
    out = np.empty_like(logp)
    for s in np.unique(people):
        m = people == s
        out[m] = logp[m] - logp[m].mean(axis=0)
    return out[:n_rows]


def best_threshold_predictions(score: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Class 1 where ``score`` reaches each group's best threshold (the one maximising that
    group's balanced accuracy, chosen with its labels ``y`` in {0, 1}); shape ``(n,)``.
    A group with one class gets its class everywhere (any threshold beyond its scores)."""
    from sklearn.metrics import roc_curve

    pred = np.zeros(y.size, dtype=np.int64)
    for g in np.unique(groups):
        m = groups == g
        if np.unique(y[m]).size < 2:
            pred[m] = y[m][0]
            continue
        fpr, tpr, thr = roc_curve(y[m], score[m])
        pred[m] = score[m] >= thr[int(np.argmax(tpr - fpr))]
    return pred


def within_person_auc(score: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Mean over groups holding both classes of the ROC AUC of ``score`` for ``y`` == 1."""
    from sklearn.metrics import roc_auc_score

    masks = [groups == g for g in np.unique(groups)]
    aucs = [roc_auc_score(y[m], score[m]) for m in masks if np.unique(y[m]).size == 2]
    return float(np.mean(aucs)) if aucs else float("nan")


def hindsight_figures(
    y: np.ndarray,
    probs: np.ndarray,
    subject: np.ndarray,
    context_probs: np.ndarray,
    context_subject: np.ndarray,
    classes: Sequence[str],
) -> dict[str, Any]:
    """The hindsight bounds of one model's held-out output (its own, before any centring).

    Parameters
    ----------
    y, subject
        Labelled windows: class index and person, shape ``(n,)`` each.
    probs
        The model's class probabilities for them, ``(n, n_classes)``.
    context_probs, context_subject
        The same people's unlabelled windows (``(m, n_classes)``, ``(m,)``), which join a
        person's mean as they join the live monitor's.

    Returns
    -------
    ``person_centred``: pooled balanced accuracy of the output centred on all of each person's
    windows;
    for two classes also ``best_threshold_per_person`` (pooled balanced accuracy with each
    person's best threshold on the log-odds) and ``within_person_auc``; None where not defined.
    """
    k = len(classes)
    centred = person_centred(
        np.concatenate([probs, context_probs]), np.concatenate([subject, context_subject]), len(y)
    )
    out: dict[str, Any] = {
        "person_centred": balanced_accuracy(y, centred.argmax(axis=1), k),
        "best_threshold_per_person": None,
        "within_person_auc": None,
    }
    if k == 2:
        logp = floored_log(probs)
        odds = logp[:, 1] - logp[:, 0]
        out["best_threshold_per_person"] = balanced_accuracy(
            y, best_threshold_predictions(odds, y, subject), k
        )
        out["within_person_auc"] = within_person_auc(odds, y, subject)
    return out
