from __future__ import annotations

import numpy as np
import pytest

from affectstream.model.cnn import fast_prefix

pytest.importorskip("tensorflow")


def test_fast_prefix_counts_the_leading_pulse_or_ecg_channels():
    assert fast_prefix(["bvp", "eda", "temp", "heart_rate"]) == 1
    assert fast_prefix(["ecg:I", "ecg:II", "eda"]) == 2
    assert fast_prefix(["eda", "temp"]) == 0  # nothing fast
    assert fast_prefix(["bvp", "eda"]) == 1
    assert fast_prefix(["eda", "bvp"]) == 0  # fast after slow: one branch reads all
    assert fast_prefix(["bvp"]) == 1  # all fast: one branch


def test_two_branch_cnn_is_small_and_reads_the_slow_channels():
    from affectstream.model.cnn import compact_cnn

    one = compact_cnn(1920, 4, 2)
    two = compact_cnn(1920, 4, 2, n_fast=1, slow_pool=8)
    assert 20_000 < one.count_params() < 60_000 and 20_000 < two.count_params() < 60_000
    x = np.zeros((2, 1920, 4), dtype=np.float32)
    base = two.predict(x, verbose=0)
    x[:, :, 3] = 3.0  # a raised heart rate changes the answer only through the slow branch
    assert not np.allclose(two.predict(x, verbose=0), base)
    assert any(layer.name.startswith("average_pooling1d") for layer in two.layers)
