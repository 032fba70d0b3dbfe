from __future__ import annotations

import numpy as np
import pytest

from affectstream.dsp.calibration import warmup_s
from affectstream.model.bundle import read_bundle, write_bundle
from affectstream.model.predictor import Predictor
from affectstream.stream.monitor import Monitor
from affectstream.stream.records import RECORD_KEYS
from affectstream.stream.replay import replay_chunks
from tests.conftest import CNN_BUNDLE
from tests.stream.parity import assert_parity, offline_by_time


@pytest.fixture(scope="module")
def predictor():
    return Predictor("default")


@pytest.fixture(
    scope="module",
    params=["bundled", "cnn-none", "cnn-baseline", "cnn-running", "cnn-running-centred"],
)
def any_rule_predictor(request, tmp_path_factory):
    """The packaged model, and a frame-input CNN under each calibration rule, with and without
    output centring (the rule is metadata; weights unchanged)."""
    if request.param == "bundled":
        return Predictor("default")
    if request.param == "cnn-running":
        return Predictor(CNN_BUNDLE)
    b = read_bundle(CNN_BUNDLE)
    kind = request.param.removeprefix("cnn-").removesuffix("-centred")
    rule = {**b.metadata["calibration"], "kind": kind}
    rule["centre_output"] = request.param.endswith("-centred")
    if kind != "running":
        rule.pop("min_s", None)
    rule.pop("baseline_s", None)
    meta = {**b.metadata, "calibration": rule}
    path = tmp_path_factory.mktemp("rules") / f"{request.param}.afb"
    return Predictor(write_bundle(path, meta, b.model_bytes))


def test_live_monitor_in_random_chunks_equals_offline(any_rule_predictor, excerpt):
    predictor = any_rule_predictor
    offline = offline_by_time(predictor, excerpt)
    mon = Monitor(predictor)
    rng = np.random.default_rng(3)
    recs = []
    for ch in replay_chunks(excerpt, mon.modalities, chunk_s=1.0):
        x = ch.samples
        cuts = (
            np.sort(rng.choice(np.arange(1, len(x)), size=min(2, len(x) - 1), replace=False))
            if len(x) > 2
            else []
        )
        first = True
        for part in np.split(x, cuts):
            recs += mon.push("S13", ch.modality, part, start_time=ch.start_time if first else None)
            first = False
    assert len(recs) == len(offline)
    n = assert_parity(recs, offline, predictor.classes)
    assert n >= 30
    for r in recs:
        assert set(RECORD_KEYS) <= set(r)
        assert r["device"] == "S13" and r["model"] == predictor.model_id


@pytest.mark.parametrize("model", ["default", "cnn"])
def test_a_hop_other_than_the_models_matches_offline_at_that_hop(model, excerpt):
    predictor = Predictor("default" if model == "default" else CNN_BUNDLE)
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 480)
    mon = Monitor(predictor, hop_s=5.0)
    recs = []
    for ch in replay_chunks(rec, mon.modalities, chunk_s=2.0):
        recs += mon.push("S13", ch.modality, ch.samples, start_time=ch.start_time)
    offline = offline_by_time(predictor, rec, hop_s=5.0)
    assert len(recs) == len(offline)
    # a window every 5 s from the end of the 300 s warm-up to the slice's end
    assert assert_parity(recs, offline, predictor.classes) >= 35


def test_batched_inference_across_devices_gives_the_same_records(predictor, excerpt):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 500)
    single = Monitor(predictor)
    batched = Monitor(predictor, batch=True)
    a, b = [], []
    for ch in replay_chunks(rec, single.modalities):
        for dev in ("d1", "d2", "d3"):
            a += single.push(dev, ch.modality, ch.samples, start_time=ch.start_time)
            batched.push(dev, ch.modality, ch.samples, start_time=ch.start_time)
        b += batched.flush()
    key = lambda r: (r["device"], r["t"])  # noqa: E731
    a, b = sorted(a, key=key), sorted(b, key=key)
    assert [key(r) for r in a] == [key(r) for r in b] and len(a) >= 9
    for x, y in zip(a, b, strict=True):
        assert x["label"] == y["label"]
        assert all(abs(x["probs"][c] - y["probs"][c]) < 1e-6 for c in x["probs"])


def test_first_predictions_wait_for_the_baseline_and_gaps_abstain(predictor, excerpt):
    mon = Monitor(predictor)
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 700)
    out = []
    for ch in replay_chunks(rec, mon.modalities):
        rel = ch.start_time - rec.start_time
        if 450 <= rel < 500 and ch.modality == "bvp":
            continue  # the BVP sensor drops out for 50 s
        out += mon.push("dev", ch.modality, ch.samples, start_time=ch.start_time)
    base = warmup_s(predictor.calibration_rule)
    assert base > 0
    assert min(r["t"] for r in out) - rec.start_time >= base
    # windows with more than 10 % (6 s) of the 450-500 s drop-out abstain
    gap = [r for r in out if 457 <= r["t"] - rec.start_time <= 545]
    assert gap and all(r["label"] is None and "missing" in r["reason"] for r in gap)
    assert any(r["label"] is not None for r in out)


def test_a_flat_sensor_abstains(predictor, excerpt):
    mon = Monitor(predictor)
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 500)
    out = []
    for ch in replay_chunks(rec, mon.modalities):
        x = ch.samples
        if ch.modality == "bvp" and ch.start_time - rec.start_time >= 380:
            x = np.zeros_like(x)  # sensor off the skin
        out += mon.push("dev", ch.modality, x, start_time=ch.start_time)
    late = [r for r in out if r["t"] - rec.start_time >= 450]
    assert late and all(r["label"] is None and "flat line" in r["reason"] for r in late)


@pytest.mark.parametrize(
    "rule, what",
    [({"kind": "subject"}, "whole data"), ({"kind": "rest", "labels": ["non-stress"]}, "rest")],
)
def test_rules_a_live_stream_cannot_provide_are_refused_with_the_way_out(
    rule, what, tmp_path, excerpt
):
    from affectstream.model.offline import predict_recording

    b = read_bundle(CNN_BUNDLE)
    meta = {**b.metadata, "calibration": {**b.metadata["calibration"], **rule}}
    pred = Predictor(write_bundle(tmp_path / "m.afb", meta, b.model_bytes))
    with pytest.raises(ValueError, match=f"{what}.*export a model trained with 'running'"):
        Monitor(pred).device("wrist")
    if rule["kind"] == "rest":  # offline prediction needs the rest periods too
        with pytest.raises(ValueError, match="rest periods marked"):
            predict_recording(pred, excerpt)
