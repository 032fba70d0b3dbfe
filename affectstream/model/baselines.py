"""Simple models every result is compared with, trained on the same folds as the CNN."""

from __future__ import annotations

from typing import Any

import numpy as np

from affectstream.dsp.features import FEATURES_VERSION


def majority_predict(y_train: np.ndarray, n_test: int, n_classes: int) -> np.ndarray:
    """Class probabilities of always answering the most frequent training class."""
    p = np.zeros((n_test, n_classes))
    p[:, int(np.bincount(y_train, minlength=n_classes).argmax())] = 1.0
    return p


def logistic_regression(seed: int = 0, c: float = 0.1) -> Any:
    """Standardised features, median imputation, L2 logistic regression (inverse strength
    ``c``), balanced classes."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed),
    )


def tree_ensemble(seed: int = 0) -> Any:
    """Gradient-boosted shallow trees with balanced class weights (handles missing values)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.05, max_depth=3, class_weight="balanced", random_state=seed
    )


def fit_predict_features(
    model: Any, f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, n_classes: int
) -> np.ndarray:
    """Fit on training features and return test class probabilities ``(n_test, n_classes)``.

    On one OpenMP thread: the boosted trees' threads cost more than they save on a few
    thousand windows, and on a busy 2-core machine a fit of six windows took seconds with two
    threads against 0.1 s with one."""
    from threadpoolctl import threadpool_limits

    empty = ~np.isfinite(f_train).any(axis=0)
    if empty.any():  # a feature never known in training (scikit-learn's trees fail on it)
        f_train, f_test = f_train.copy(), f_test.copy()
        f_train[:, empty] = 0.0
        f_test[:, empty] = 0.0
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(f_train, y_train)
        proba = model.predict_proba(f_test)
    out = np.zeros((f_test.shape[0], n_classes))
    out[:, model.classes_] = proba
    return out


def logreg_params(model: Any, feature_names: list[str], classes: list[str]) -> dict[str, Any]:
    """JSON-ready parameters of a fitted :func:`logistic_regression` pipeline: the imputer's
    fill values, the scaler's mean and scale, coefficients ``(1 or n_classes, n_features)``
    and intercepts, with the class indices the model saw and the
    :data:`~affectstream.dsp.features.FEATURES_VERSION` of its inputs."""
    imputer = model.named_steps["simpleimputer"]
    scaler = model.named_steps["standardscaler"]
    lr = model.named_steps["logisticregression"]
    return {
        "feature_names": list(feature_names),
        "features_version": FEATURES_VERSION,
        "classes": list(classes),
        "model_classes": [int(c) for c in lr.classes_],
        "fill": imputer.statistics_.tolist(),
        "scaler_mean": scaler.mean_.tolist(),
        "scaler_scale": scaler.scale_.tolist(),
        "coef": lr.coef_.tolist(),
        "intercept": lr.intercept_.tolist(),
    }
