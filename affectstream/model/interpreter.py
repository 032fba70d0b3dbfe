"""Loading a TFLite interpreter from whichever runtime is installed.

Preference: ai-edge-litert (maintained, numpy 2), then tflite-runtime (old devices), then
TensorFlow's ``tf.lite`` (deprecated, heavy; only where nothing else is installed).
"""

from __future__ import annotations

from typing import Any


def interpreter_class() -> tuple[type, str]:
    """The Interpreter class and the runtime's name."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:  # pragma: no cover - not installed alongside litert here
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ImportError:
        pass
    try:  # pragma: no cover
        import tensorflow as tf

        return tf.lite.Interpreter, "tensorflow"
    except ImportError:
        raise ImportError(
            "no TFLite runtime: pip install ai-edge-litert (or tflite-runtime on old devices)"
        ) from None


def make_interpreter(model_bytes: bytes, num_threads: int = 1) -> tuple[Any, str]:
    """An allocated interpreter for ``model_bytes`` and the runtime's name."""
    cls, name = interpreter_class()
    interp = cls(model_content=model_bytes, num_threads=num_threads)
    interp.allocate_tensors()
    return interp, name
