"""The models ``affectstream train`` compares, one class each behind one protocol.

Every model takes a fold (training rows, test rows and the test people's context windows) of
the shared :class:`FoldData` and returns class probabilities for the test rows then the context
rows, ``(test.size + context.size, n_classes)``. Networks keep their training curves and size
(:attr:`CompactCnn.curves`, :attr:`CompactCnn.network`) for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from affectstream.model import baselines
from affectstream.model.calibrated import calibrated_inputs, fit_global
from affectstream.model.train_config import CnnConfig, ResearcherConfig, TrainConfig
from affectstream.model.windows import WindowSet

#: The models on hand-made features: name -> ``make(seed)``, an unfitted classifier.
FEATURE_MODELS: dict[str, Callable[[int], Any]] = {
    "logreg": baselines.logistic_regression,
    "forest": baselines.tree_ensemble,
}


@dataclass
class FoldData:
    """What every fold shares: the labelled windows ``ws`` and their context ``ctx``, the
    comparison table's calibration ``rule``, the settings, and (for feature models) the
    calibrated features of both, ``(len(ws), n_features)`` and ``(len(ctx), n_features)``."""

    ws: WindowSet
    ctx: WindowSet
    rule: dict[str, Any]
    cfg: TrainConfig
    n_recorded: int
    features: np.ndarray | None = None
    context_features: np.ndarray | None = None


@dataclass(frozen=True)
class Fold:
    """One outer fold: its number (0-based), training and test rows of ``ws``, and the rows of
    ``ctx`` that belong to the test people."""

    index: int
    train: np.ndarray
    test: np.ndarray
    context: np.ndarray


class HeldOutModel(Protocol):
    """A model the training compares: fit on a fold's training rows, predict its test rows."""

    name: str

    def fit_predict(self, data: FoldData, fold: Fold) -> np.ndarray:
        """Class probabilities ``(fold.test.size + fold.context.size, n_classes)``."""
        ...


@dataclass
class Majority:
    """Always the most frequent training class."""

    name: str = "majority"

    def fit_predict(self, data: FoldData, fold: Fold) -> np.ndarray:
        n = fold.test.size + fold.context.size
        return baselines.majority_predict(data.ws.y[fold.train], n, len(data.ws.classes))


@dataclass
class FeatureModel:
    """A scikit-learn classifier on the calibrated window features (:data:`FEATURE_MODELS`)."""

    name: str

    def fit_predict(self, data: FoldData, fold: Fold) -> np.ndarray:
        f, fc = data.features, data.context_features
        if f is None or fc is None:
            raise ValueError(
                f"{self.name} needs the windows' calibrated features; build the fold data with "
                "features (a feature calibration rule)"
            )
        est = FEATURE_MODELS[self.name](data.cfg.seed)
        f_te = np.concatenate([f[fold.test], fc[fold.context]])
        k = len(data.ws.classes)
        return baselines.fit_predict_features(est, f[fold.train], data.ws.y[fold.train], f_te, k)


@dataclass
class CompactCnn:
    """The compact CNN on calibrated frames, early stopping on an inner subject-wise split."""

    name: str = "cnn"
    curves: list[dict[str, list[float]]] = field(default_factory=list)
    network: dict[str, Any] = field(default_factory=dict)

    def fit_predict(self, data: FoldData, fold: Fold) -> np.ndarray:
        ws, ctx, rule, tr = data.ws, data.ctx, data.rule, fold.train
        gc, gs = fit_global(ws, np.unique(ws.session[tr]), rule)
        net, hist = train_compact_cnn(
            calibrated_inputs(ws, tr, rule, gc, gs),
            ws.y[tr],
            ws.subject[tr],
            len(ws.classes),
            data.cfg.cnn,
            data.cfg.seed + fold.index,
            channel_names=ws.channel_names,
            rate=ws.rate,
        )
        self.curves.append(hist)
        self.network = {"parameters": int(net.count_params()), "windows": int(tr.size)}
        x_te = np.concatenate(
            [
                calibrated_inputs(ws, fold.test, rule, gc, gs),
                calibrated_inputs(ctx, fold.context, rule, gc, gs),
            ]
        )
        return net.predict(x_te, verbose=0, batch_size=256)


@dataclass
class ResearcherCnn:
    """The original researcher's network and recipe on raw frames, one-minute records."""

    name: str = "researcher_cnn"
    curves: list[dict[str, list[float]]] = field(default_factory=list)
    network: dict[str, Any] = field(default_factory=dict)

    def fit_predict(self, data: FoldData, fold: Fold) -> np.ndarray:
        ws, n_rec = data.ws, data.n_recorded
        tr1 = _one_minute_records(ws, fold.train)
        net, hist = train_researcher_cnn(
            _raw(ws, tr1, n_rec),
            ws.y[tr1],
            len(ws.classes),
            data.cfg.researcher,
            data.cfg.seed + fold.index,
        )
        self.curves.append(hist)
        cut = int(np.ceil(tr1.size * 0.8))  # Keras validates on the LAST 20 %
        unseen = set(ws.y[tr1[cut:]].tolist()) - set(ws.y[tr1[:cut]].tolist())
        self.network = {
            "parameters": int(net.count_params()),
            "windows": int(tr1.size),
            "validation_classes_unseen": max(
                len(unseen), self.network.get("validation_classes_unseen", 0)
            ),
        }
        x_te = np.concatenate([_raw(ws, fold.test, n_rec), _raw(data.ctx, fold.context, n_rec)])
        return net.predict(x_te, verbose=0, batch_size=256)


def make_model(name: str) -> HeldOutModel:
    """The model class for a name of :data:`affectstream.model.train_config.MODELS`."""
    if name in FEATURE_MODELS:
        return FeatureModel(name)
    makers: dict[str, Callable[[], HeldOutModel]] = {
        "majority": Majority,
        "cnn": CompactCnn,
        "researcher_cnn": ResearcherCnn,
    }
    if name not in makers:
        raise ValueError(
            f"model {name!r} is unknown; use one of {sorted({*makers, *FEATURE_MODELS})}"
        )
    return makers[name]()


def _inner_split(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

    n = groups.size
    if np.unique(groups).size >= 3:
        cv = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        return next(cv.split(np.zeros(n), groups=groups))
    return next(ShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(np.zeros(n)))


def train_compact_cnn(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    cfg: CnnConfig,
    seed: int,
    fixed_epochs: int | None = None,
    channel_names: Sequence[str] | None = None,
    rate: float | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Train the compact CNN with early stopping on an inner subject-wise validation split, or,
    with ``fixed_epochs``, on all of ``x`` for that many epochs (the final refit).

    ``channel_names`` and ``rate`` (Hz) choose the two-branch network (pulse wave or ECG fast,
    the other channels slow, see :func:`affectstream.model.cnn.compact_cnn`); without them one
    branch reads every channel."""
    from affectstream.model.cnn import SLOW_RATE_HZ, compact_cnn, fast_prefix, load_keras

    keras = load_keras()
    keras.utils.set_random_seed(seed)
    if fixed_epochs is not None:
        tr, va = np.arange(len(y)), np.empty(0, dtype=np.int64)
    else:
        tr, va = _inner_split(groups, cfg.validation_fraction, seed)
    counts = np.bincount(y[tr], minlength=n_classes)
    weights = {c: float(len(tr) / (n_classes * counts[c])) for c in range(n_classes) if counts[c]}
    model = compact_cnn(
        x.shape[1],
        x.shape[2],
        n_classes,
        dropout=cfg.dropout,
        input_noise=cfg.input_noise,
        n_fast=fast_prefix(list(channel_names)) if channel_names else 0,
        slow_pool=max(1, int(rate // SLOW_RATE_HZ)) if rate else 1,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if fixed_epochs is not None:
        hist = model.fit(
            x,
            y,
            epochs=fixed_epochs,
            batch_size=cfg.batch_size,
            class_weight=weights,
            verbose=0,
            shuffle=True,
        )
        return model, {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    hist = model.fit(
        x[tr],
        y[tr],
        validation_data=(x[va], y[va]),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        class_weight=weights,
        callbacks=[stop],
        verbose=0,
        shuffle=True,
    )
    return model, {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def train_researcher_cnn(
    x: np.ndarray, y: np.ndarray, n_classes: int, cfg: ResearcherConfig, seed: int
) -> tuple[Any, dict[str, list[float]]]:
    """The original recipe: raw frames, Keras' `validation_split=0.2` (the last 20 % of ``x``,
    not a random draw), fixed epochs, no class weights."""
    from affectstream.model.cnn import cpu_has_bf16, load_keras, researcher_cnn

    keras = load_keras()
    keras.utils.set_random_seed(seed)
    model = researcher_cnn(x.shape[1], x.shape[2], n_classes, mixed_bf16=cpu_has_bf16())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(
        x, y, validation_split=0.2, epochs=cfg.epochs, batch_size=cfg.batch_size, verbose=0
    )
    return model, {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def _raw(ws: WindowSet, idx: np.ndarray, n_channels: int) -> np.ndarray:
    """The windows' first ``n_channels`` frame columns (the recorded signals, not the derived
    channels after them) in physical units, missing values as 0: the researcher's input."""
    return np.nan_to_num(ws.x[idx, :, :n_channels], nan=0.0)


def _one_minute_records(ws: WindowSet, idx: np.ndarray) -> np.ndarray:
    """Of ``idx``, windows that do not overlap (one per window length per session)."""
    keep: list[int] = []
    last: dict[str, float] = {}
    for i in idx:
        s = ws.session[i]
        if s not in last or ws.t_end[i] - last[s] >= ws.window_s - 1e-9:
            keep.append(i)
            last[s] = ws.t_end[i]
    return np.array(keep, dtype=np.int64)
