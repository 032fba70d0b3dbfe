from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectstream.dsp.rolling_window import RollingWindow
from affectstream.stream.payload import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    decode_chunk,
    encode_chunk,
    parse_topic,
)


def test_rolling_window_holds_the_last_frames_in_order():
    rw = RollingWindow(5, 2)
    data = np.arange(26, dtype=float).reshape(13, 2)
    for a, b in [(0, 3), (3, 4), (4, 11), (11, 13)]:
        rw.append(data[a:b])
    assert rw.total == 13
    assert np.array_equal(rw.window(), data[-5:])
    rw.append(np.arange(20.0).reshape(10, 2))
    assert np.array_equal(rw.window(), np.arange(20.0).reshape(10, 2)[-5:])


def test_payload_round_trip_with_missing_samples():
    x = np.array([1.0, np.nan, 3.0])
    ch = decode_chunk("affectstream/dev-1/raw/eda", encode_chunk(10.0, 4.0, ["eda"], 7, x))
    assert ch.device == "dev-1" and ch.modality == "eda" and ch.seq == 7 and ch.fs == 4.0
    assert ch.samples.shape == (3, 1) and np.isnan(ch.samples[1, 0])
    two = decode_chunk(
        "affectstream/d/raw/ecg", encode_chunk(0.0, 256.0, ["I", "II"], 0, np.ones((4, 2)))
    )
    assert two.samples.shape == (4, 2)


@pytest.mark.parametrize(
    ("topic", "payload", "match"),
    [
        ("affectstream/d/raw/eda", b"not json", "not JSON"),
        ("affectstream/d/raw/eda", b"[1,2]", "JSON object"),
        ("affectstream/d/raw/eda", b'{"t0":0,"fs":4,"channels":["eda"],"seq":0}', "lacks"),
        (
            "affectstream/d/raw/eda",
            b'{"t0":0,"fs":-4,"channels":["eda"],"seq":0,"samples":[1]}',
            "positive rate",
        ),
        (
            "affectstream/d/raw/eda",
            b'{"t0":0,"fs":4,"channels":["eda"],"seq":-1,"samples":[1]}',
            "seq",
        ),
        (
            "affectstream/d/raw/eda",
            b'{"t0":0,"fs":4,"channels":["eda"],"seq":0,"samples":["a"]}',
            "numbers",
        ),
        (
            "affectstream/d/raw/ecg",
            b'{"t0":0,"fs":4,"channels":["a","b"],"seq":0,"samples":[[1,2],[3]]}',
            "list of 2",
        ),
        (
            "affectstream/d/raw/eda",
            b'{"t0":0,"fs":4,"channels":["eda"],"seq":0,"samples":' + b"[" * 50 + b"]" * 50 + b"}",
            "nested too deeply",
        ),
        ("affectstream/d/raw/eda", b"x" * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
        ("other/d/raw/eda", b"{}", "is not affectstream"),
        ("affectstream/bad device/raw/eda", b"{}", "device id"),
    ],
)
def test_bad_payloads_are_refused_with_the_reason(topic, payload, match):
    with pytest.raises(PayloadError, match=match):
        decode_chunk(topic, payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_decoder_never_fails_other_than_payload_error(data):
    with contextlib.suppress(PayloadError):
        decode_chunk("affectstream/dev/raw/bvp", data)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "t0": json_values,
            "fs": json_values,
            "channels": json_values,
            "seq": json_values,
            "samples": json_values,
        },
    )
)
def test_decoder_on_structured_garbage(doc):
    try:
        ch = decode_chunk("affectstream/dev/raw/bvp", json.dumps(doc).encode())
    except PayloadError:
        return
    assert ch.samples.ndim == 2 and ch.fs > 0


def test_topic_parsing():
    assert parse_topic("affectstream/e4-07/raw/BVP") == ("e4-07", "bvp")
