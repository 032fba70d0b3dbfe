"""The model: its bundle and LiteRT predictor (the edge runtime), offline prediction, and
training, evaluation and int8 export (the ``train`` extra).

Names load on first use, so the edge runtime never imports the training stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affectstream._lazy import lazy_exports

_EXPORTS = {
    "Predictor": "affectstream.model.predictor",
    "PersonSession": "affectstream.model.session",
    "predict_recording": "affectstream.model.offline",
    "read_bundle": "affectstream.model.bundle",
    "BundleError": "affectstream.model.bundle",
    "FeatureRule": "affectstream.model.feature_calibration",
    "TrainConfig": "affectstream.model.train_config",
    "run_training": "affectstream.model.training",
    "export_bundle": "affectstream.model.export",
}

__all__ = [
    "BundleError",
    "FeatureRule",
    "PersonSession",
    "Predictor",
    "TrainConfig",
    "export_bundle",
    "predict_recording",
    "read_bundle",
    "run_training",
]

if TYPE_CHECKING:
    from affectstream.model.bundle import BundleError, read_bundle
    from affectstream.model.export import export_bundle
    from affectstream.model.feature_calibration import FeatureRule
    from affectstream.model.offline import predict_recording
    from affectstream.model.predictor import Predictor
    from affectstream.model.session import PersonSession
    from affectstream.model.train_config import TrainConfig
    from affectstream.model.training import run_training

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
