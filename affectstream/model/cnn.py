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

#: Conv blocks of the slow branch (EDA, TEMP, heart rate, read at about 4 Hz).
SLOW_BLOCKS = ((16, 5, 2), (24, 5, 2), (32, 5, 2))

#: Modalities the fast branch reads at the model rate; every other channel is slow.
FAST_MODALITIES = ("ecg", "bvp")

#: Rate (Hz) the slow branch reads its channels at.
SLOW_RATE_HZ = 4.0


def fast_prefix(channel_names: list[str]) -> int:
    """How many leading channels are fast (:data:`FAST_MODALITIES`); 0 when the fast channels
    are not the leading ones (then the CNN reads every channel in one branch)."""
    fast = [c.split(":")[0] in FAST_MODALITIES for c in channel_names]
    n = fast.index(False) if False in fast else len(fast)
    return n if not any(fast[n:]) else 0


def _conv_block(x: Any, filters: int, kernel: int, stride: int, l2: float) -> Any:
    from keras import layers, regularizers

    x = layers.Conv1D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_regularizer=regularizers.l2(l2),
    )(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def compact_cnn(
    n_frames: int,
    n_channels: int,
    n_classes: int,
    *,
    dropout: float = 0.3,
    blocks: tuple[tuple[int, int, int], ...] = COMPACT_BLOCKS,
    l2: float = 1e-4,
    input_noise: float = 0.0,
    n_fast: int = 0,
    slow_pool: int = 1,
) -> Any:
    """A small 1D CNN for small data: strided convolutions, batch norm, global average pooling.

    Input ``(n_frames, n_channels)`` normalised frames; output class probabilities. With
    ``0 < n_fast < n_channels`` it has two branches: the first ``n_fast`` channels (the pulse
    wave or ECG) through ``blocks`` at the model rate, global average pooling; the others (EDA,
    TEMP, heart rate: levels that change over seconds) averaged over ``slow_pool`` frames, then
    :data:`SLOW_BLOCKS`, global average and max pooling. About 38k parameters for the E4's
    channels, 35k in one branch, whatever the window length. ``input_noise`` (standard
    deviation, in normalised units) adds Gaussian noise to the input while training only: it
    stands in for the int8 input step (8 / 255 of a unit), so the exported model's decisions do
    not hinge on differences smaller than what int8 can represent.
    """
    keras = load_keras()
    from keras import layers

    inp = keras.Input((n_frames, n_channels), name="frames")
    noisy = layers.GaussianNoise(input_noise)(inp) if input_noise > 0 else inp
    two = 0 < n_fast < n_channels
    fast = noisy[:, :, :n_fast] if two else noisy
    for f, k, s in blocks:
        fast = _conv_block(fast, f, k, s, l2)
    x = layers.GlobalAveragePooling1D()(fast)
    if two:
        x = layers.Dropout(dropout)(x)
        slow = noisy[:, :, n_fast:]
        if slow_pool > 1:
            slow = layers.AveragePooling1D(slow_pool)(slow)
        for f, k, s in SLOW_BLOCKS:
            slow = _conv_block(slow, f, k, s, l2)
        pooled = [layers.GlobalAveragePooling1D()(slow), layers.GlobalMaxPooling1D()(slow)]
        x = layers.Concatenate()([x, *pooled])
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="compact_cnn")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16; Linux only)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def researcher_cnn(
    n_frames: int, n_channels: int, n_classes: int, *, mixed_bf16: bool = False
) -> Any:
    """The original network: Conv1D with 100 filters of kernel 700, Flatten, Dense softmax.

    Kept for contrast. With 60 s windows it has hundreds of thousands of parameters, most in the
    dense layer after Flatten, for a few thousand training windows. Its 700-tap convolution
    is most of a training run's time; ``mixed_bf16`` computes it in bfloat16 (float32
    weights and output), twice as fast on a CPU with :func:`cpu_has_bf16`.
    """
    keras = load_keras()
    from keras import layers

    inp = keras.Input((n_frames, n_channels), name="frames")
    k = min(700, n_frames)
    conv = "mixed_bfloat16" if mixed_bf16 else None
    x = layers.Conv1D(100, k, activation="relu", dtype=conv)(inp)
    x = layers.Flatten()(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inp, out, name="researcher_cnn")
