"""Keras model definitions: the project's compact CNN and the original researcher's network.

Only the training side imports this module (it needs the ``train`` extra).
"""

from __future__ import annotations

import os
from typing import Any


def load_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ banner on every run
    try:
        import keras
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # retracing notices are not the user's concern
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "training needs TensorFlow and Keras: pip install 'affectstream[train]'"
        ) from exc
    return keras


#: Conv blocks of the compact CNN: (filters, kernel, stride).
COMPACT_BLOCKS = ((16, 9, 2), (24, 7, 2), (32, 7, 2), (48, 5, 2), (64, 5, 2))


def compact_cnn(
    n_frames: int,
    n_channels: int,
    n_classes: int,
    *,
    dropout: float = 0.3,
    blocks: tuple[tuple[int, int, int], ...] = COMPACT_BLOCKS,
    l2: float = 1e-4,
    input_noise: float = 0.0,
) -> Any:
    """A small 1D CNN for small data: strided convolutions, batch norm, global average pooling.

    Input ``(n_frames, n_channels)`` normalised frames; output class probabilities. About 35k
    parameters with the default blocks, whatever the window length. ``input_noise`` (standard
    deviation, in normalised units) adds Gaussian noise to the input while training only: it
    stands in for the int8 input step (8 / 255 of a unit), so the exported model's decisions do
    not hinge on differences smaller than what int8 can represent.
    """
    keras = load_keras()
    from keras import layers, regularizers

    inp = keras.Input((n_frames, n_channels), name="frames")
    x = layers.GaussianNoise(input_noise)(inp) if input_noise > 0 else inp
    for f, k, s in blocks:
        x = layers.Conv1D(
            f, k, strides=s, padding="same", use_bias=False, kernel_regularizer=regularizers.l2(l2)
        )(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="compact_cnn")


def researcher_cnn(n_frames: int, n_channels: int, n_classes: int) -> Any:
    """The original network: Conv1D with 100 filters of kernel 700, Flatten, Dense softmax.

    Kept for contrast. With 60 s windows it has hundreds of thousands of parameters, most in the
    dense layer after Flatten, for a few thousand training windows.
    """
    keras = load_keras()
    from keras import layers

    inp = keras.Input((n_frames, n_channels), name="frames")
    k = min(700, n_frames)
    x = layers.Conv1D(100, k, activation="relu")(inp)
    x = layers.Flatten()(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="researcher_cnn")
