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


#: Feature-model calibrations (the packaged model's weights under each rule and output step).
FEATURE_RULES = {
    "features-running": {"kind": "running", "min_s": 300.0},
    "features-running-centred": {"kind": "running", "min_s": 300.0, "centre_output": True},
    "features-anchored": {"kind": "anchored", "min_s": 300.0, "settle_s": 120.0},
    "features-anchored-offset": {
        "kind": "anchored",
        "min_s": 240.0,
        "settle_s": 60.0,
        "output": {"kind": "offset", "class": "non-stress", "log_offset": 0.7},
    },
}


@pytest.fixture(
    scope="module",
    params=[
        "bundled",
        "cnn-none",
        "cnn-baseline",
        "cnn-running",
        "cnn-running-centred",
        *FEATURE_RULES,
    ],
)
def any_rule_predictor(request, tmp_path_factory):
    """The packaged model, the packaged feature model under every feature calibration and
    output step, and a frame-input CNN under each frame rule, with and without output
    centring (the rule is metadata; weights unchanged)."""
    if request.param == "bundled":
        return Predictor("default")
    if request.param == "cnn-running":
        return Predictor(CNN_BUNDLE)
    path = tmp_path_factory.mktemp("rules") / f"{request.param}.afb"
    if request.param in FEATURE_RULES:
        b = read_bundle(Predictor("default").bundle.path)
        meta = {**b.metadata, "calibration": {"clip": 4.0, **FEATURE_RULES[request.param]}}
        return Predictor(write_bundle(path, meta, b.model_bytes))
    b = read_bundle(CNN_BUNDLE)
    kind = request.param.removeprefix("cnn-").removesuffix("-centred")
    rule = {**b.metadata["calibration"], "kind": kind}
    rule["centre_output"] = request.param.endswith("-centred")
    if kind != "running":
        rule.pop("min_s", None)
    rule.pop("baseline_s", None)
    meta = {**b.metadata, "calibration": rule}
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


@pytest.fixture(scope="module", params=["bundled", *FEATURE_RULES])
def feature_rule_predictor(request, tmp_path_factory):
    """The packaged feature model under every feature calibration and output step."""
    if request.param == "bundled":
        return Predictor("default")
    b = read_bundle(Predictor("default").bundle.path)
    meta = {**b.metadata, "calibration": {"clip": 4.0, **FEATURE_RULES[request.param]}}
    path = tmp_path_factory.mktemp("feature-rules") / f"{request.param}.afb"
    return Predictor(write_bundle(path, meta, b.model_bytes))


def test_training_windows_equal_offline_for_every_feature_rule(feature_rule_predictor, excerpt):
    """monitor = offline (above) and offline = training: the windows training cuts, calibrated
    by replaying each session's schedule, give what offline prediction serves."""
    import dataclasses

    from affectstream.dsp.preprocessor import Preprocessor
    from affectstream.model.calibrated import feature_inputs, warm_rows
    from affectstream.model.offline import predict_recording
    from affectstream.model.training import centre_held_out
    from affectstream.model.windows import make_windows

    pred = feature_rule_predictor
    assert pred.input_kind == "features"
    meta, cal = pred.metadata, pred.calibration_rule
    ws = make_windows(
        [excerpt], meta["preprocess"], window_s=meta["window_s"], hop_s=meta["default_hop_s"]
    )
    ws = ws.subset(warm_rows(ws, cal))
    ws = dataclasses.replace(ws, context=ws.context.subset(warm_rows(ws.context, cal)))
    fill = np.asarray(meta["input"]["fill"])
    p = pred.predict(feature_inputs(ws, np.arange(len(ws)), cal, fill))
    if cal["centre_output"]:
        ctx = pred.predict(feature_inputs(ws.context, np.arange(len(ws.context)), cal, fill))
        p = centre_held_out(ws, p, ctx)
    elif pred.output_step() is not None:
        p = pred.output_step().apply(p)
    rp = predict_recording(pred, excerpt)
    k0 = Preprocessor(meta["preprocess"]).process_recording(excerpt).k[0] / pred.rate
    live = {round(float(t), 3): q for t, q in zip(rp.t_end, rp.probs, strict=True)}
    assert len(ws) >= 30
    for t, q in zip(ws.t_end, p, strict=True):
        np.testing.assert_allclose(live[round(float(t + k0), 3)], q, atol=1e-6)
