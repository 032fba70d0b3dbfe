"""Would more people help? The feature models' held-out score as the training set grows.

On the training's own subject-wise folds, each model is refitted on random subsets of each
fold's training subjects (same test subjects, same calibrated features) and scored over all
held-out windows, as the main table scores it. A curve still rising at the full training set
says more people of the same kind would help; a flat one says the ceiling is in the signal or
the labels, not in the number of people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.model.baselines import fit_predict_features
from affectstream.model.metrics import balanced_accuracy

#: Subsets drawn per size below the full training set (the full set is fitted once).
REPEATS = 3

#: Most points on the curve (sizes evenly spaced from 2 subjects to the full training set).
POINTS = 5


@dataclass(frozen=True)
class Serving:
    """How the held-out probabilities are turned into what the monitor would serve: the context
    windows' features ``(n_context, n_features)``, each fold's rows of them (the test people's
    unlabelled windows), and ``centre(probs, context_probs) -> probs``, output centring."""

    context_features: np.ndarray
    context_rows: Sequence[np.ndarray]
    centre: Callable[[np.ndarray, np.ndarray], np.ndarray]


def subject_counts(n_train: int, points: int = POINTS) -> list[int]:
    """Training-set sizes (subjects) for the curve: from 2 up to ``n_train``, evenly spaced;
    empty when there are fewer than 3 training subjects (no curve to speak of)."""
    if n_train < 3:
        return []
    return sorted({int(round(v)) for v in np.linspace(2, n_train, points)})


def learning_curve(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    makers: dict[str, Callable[[int], Any]],
    seed: int = 0,
    repeats: int = REPEATS,
    serving: Serving | None = None,
) -> list[dict[str, Any]]:
    """Balanced accuracy over every held-out window per model and number of training subjects.

    Parameters
    ----------
    features
        Calibrated window features ``(n_windows, n_features)``.
    y, groups
        Class index and subject per window, shape ``(n_windows,)``.
    folds
        The training's ``(train, test)`` index pairs, split by subject.
    makers
        Model name -> ``make(seed)`` returning an unfitted scikit-learn classifier.
    serving
        Output centring to apply, as the main table does (None: argmax of the model's output).

    Returns rows ``{"model", "n_subjects", "balanced_accuracy", "sd", "repeats"}``: the mean
    and standard deviation over ``repeats`` random subsets (one fit with every training subject
    at the largest size, which is capped by the fold with the fewest training subjects).
    A draw whose subjects lack a class is drawn again; the size is left out if none has them all.
    """
    n_train = min(np.unique(groups[tr]).size for tr, _ in folds)
    rows: list[dict[str, Any]] = []
    for name, make in makers.items():
        rng = np.random.default_rng(seed)
        for n in subject_counts(n_train):
            full = n == n_train and all(np.unique(groups[tr]).size == n for tr, _ in folds)
            scores = []
            for _ in range(1 if full else repeats):
                pred = _predict_with_subsets(
                    features, y, groups, n_classes, folds, make(seed), n, rng, serving
                )
                if pred is not None:
                    scores.append(balanced_accuracy(y, pred, n_classes))
            if scores:
                rows.append(
                    {
                        "model": name,
                        "n_subjects": n,
                        "balanced_accuracy": float(np.mean(scores)),
                        "sd": float(np.std(scores)),
                        "repeats": len(scores),
                    }
                )
    return rows


def _predict_with_subsets(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    model: Any,
    n: int,
    rng: np.random.Generator,
    serving: Serving | None = None,
    tries: int = 20,
) -> np.ndarray | None:
    """Held-out predictions with each fold's model fitted on ``n`` of its training subjects
    (None when no draw of ``n`` subjects holds every class)."""
    from sklearn.base import clone

    probs = np.zeros((y.size, n_classes))
    ctx = serving.context_features if serving is not None else features[:0]
    ctx_probs = np.zeros((len(ctx), n_classes))
    for f, (tr, te) in enumerate(folds):
        subjects = np.unique(groups[tr])
        for _ in range(tries):
            keep = tr[np.isin(groups[tr], rng.choice(subjects, size=n, replace=False))]
            if np.unique(y[keep]).size == np.unique(y[tr]).size:
                break
        else:
            return None
        cte = serving.context_rows[f] if serving is not None else np.empty(0, dtype=np.int64)
        test = np.concatenate([features[te], ctx[cte]])
        p = fit_predict_features(clone(model), features[keep], y[keep], test, n_classes)
        probs[te], ctx_probs[cte] = p[: te.size], p[te.size :]
    if serving is not None:
        probs = serving.centre(probs, ctx_probs)
    return probs.argmax(1)
