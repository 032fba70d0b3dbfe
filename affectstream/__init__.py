"""affectstream: real-time emotion monitoring from wearable physiological signals.

The product's entry points, importable from the top level::

    from affectstream import Monitor, Predictor, Preprocessor, load_recordings
    from affectstream import predict_recording, run_training, export_bundle, TrainConfig

Names are imported when first used (PEP 562), so ``import affectstream`` stays light: the live
monitor never loads the training stack (TensorFlow, scikit-learn) unless training is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affectstream._lazy import lazy_exports
from affectstream._version import __version__

#: Public name -> the module that defines it.
_EXPORTS = {
    "Monitor": "affectstream.stream.monitor",
    "Daemon": "affectstream.stream.daemon",
    "load_config": "affectstream.stream.config",
    "Predictor": "affectstream.model.predictor",
    "predict_recording": "affectstream.model.offline",
    "Preprocessor": "affectstream.dsp.preprocessor",
    "Recording": "affectstream.data.recording",
    "Signal": "affectstream.data.recording",
    "load_recordings": "affectstream.data.loader",
    "TrainConfig": "affectstream.model.train_config",
    "run_training": "affectstream.model.training",
    "export_bundle": "affectstream.model.export",
}

__all__ = [
    "Daemon",
    "Monitor",
    "Predictor",
    "Preprocessor",
    "Recording",
    "Signal",
    "TrainConfig",
    "__version__",
    "export_bundle",
    "load_config",
    "load_recordings",
    "predict_recording",
    "run_training",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load on first use
    from affectstream.data.loader import load_recordings
    from affectstream.data.recording import Recording, Signal
    from affectstream.dsp.preprocessor import Preprocessor
    from affectstream.model.export import export_bundle
    from affectstream.model.offline import predict_recording
    from affectstream.model.predictor import Predictor
    from affectstream.model.train_config import TrainConfig
    from affectstream.model.training import run_training
    from affectstream.stream.config import load_config
    from affectstream.stream.daemon import Daemon
    from affectstream.stream.monitor import Monitor


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
