from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

from affectstream.dsp.features import FEATURES_VERSION
from affectstream.dsp.preprocessor import Preprocessor
from affectstream.model import baselines
from affectstream.model.calibrated import feature_inputs, warm_rows
from affectstream.model.export import choose_model, export_bundle, logreg_keras
from affectstream.model.offline import predict_recording
from affectstream.model.predictor import Predictor
from affectstream.model.windows import make_windows


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logreg_as_a_dense_layer_equals_the_sklearn_pipeline(n_classes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)) * [1, 2, 3, 4, 5] + [0, 1, -1, 2, 0]
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (n_classes == 3) * (x[:, 2] > 1)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing features are imputed
    model = baselines.logistic_regression(0).fit(x, y)
    params = baselines.logreg_params(model, list("abcde"), [str(c) for c in range(n_classes)])
    filled = np.where(np.isnan(x), np.asarray(params["fill"]), x).astype(np.float32)
    got = logreg_keras(params).predict(filled, verbose=0)
    np.testing.assert_allclose(got, model.predict_proba(x), atol=1e-5)


def test_choose_model_explains_a_model_training_did_not_save(tmp_path):
    meta = {"exportable": {"cnn": {"cv_balanced_accuracy": 0.6}}}
    assert choose_model(tmp_path, meta, "best") == "cnn"
    meta["exportable"]["logreg"] = {"cv_balanced_accuracy": 0.5, "nested": True}
    assert choose_model(tmp_path, meta, "best") == "logreg"
    del meta["exportable"]["logreg"]
    with pytest.raises(FileNotFoundError, match=r"saved no logreg model.*running calibration"):
        choose_model(tmp_path, meta, "logreg")
    with pytest.raises(ValueError, match="use one of best, cnn, logreg"):
        choose_model(tmp_path, meta, "forest")


@pytest.mark.slow
def test_best_export_takes_the_procedure_scored_nested(reduced_run, tmp_path):
    out, report = reduced_run
    s = export_bundle(out, tmp_path / "best.afb", check=False, progress=None)
    # the logistic regression's procedure was scored nested, at its operating point, with the
    # prevalence checks; the CNN's figure is a fixed rule's at argmax: not comparable
    assert report["nested"]["procedure"] and s["model"] == "logreg"
    cnn = export_bundle(out, tmp_path / "cnn.afb", model="cnn", check=False, progress=None)
    pred = Predictor(cnn["bundle"])
    assert pred.input_kind == "frames" and pred.input_shape == (1920, 4)  # + heart rate
    assert pred.channels == ["bvp", "eda", "temp", "heart_rate"]


@pytest.mark.slow
def test_a_feature_model_trained_on_other_features_is_not_exported(reduced_run, tmp_path):
    import shutil

    out, _ = reduced_run
    old = tmp_path / "old_run"
    shutil.copytree(out, old)
    params = json.loads((old / "logreg.json").read_text())
    assert params["features_version"] == FEATURES_VERSION
    params["features_version"] = FEATURES_VERSION - 1
    (old / "logreg.json").write_text(json.dumps(params))
    with pytest.raises(
        ValueError, match=f"features of version {FEATURES_VERSION - 1}; .*train again"
    ):
        export_bundle(old, tmp_path / "m.afb", model="logreg", check=False, progress=None)


@pytest.mark.slow
def test_feature_bundle_serves_what_training_computed(reduced_run, tmp_path, excerpt):
    out, _ = reduced_run
    s = export_bundle(out, tmp_path / "logreg.afb", model="logreg", progress=None)
    assert s["model"] == "logreg"
    assert s["check"]["argmax_agreement"] >= 0.95  # int8 against float on training windows
    pred = Predictor(s["bundle"])
    meta = pred.metadata
    assert pred.input_kind == "features" and pred.input_shape == (len(pred.feature_names),)
    # training derived a heart-rate channel for the CNN; the feature model does not read it
    assert meta["preprocess"]["derived"] == [] and pred.channels == ["bvp", "eda", "temp"]
    assert s["bundle_bytes"] < 8 * 1024
    # the same windows of a recording, as training cuts them and as the monitor's path does
    hop_s = meta["default_hop_s"]  # the training hop: the feature statistics' schedule
    ws = make_windows([excerpt], meta["preprocess"], window_s=meta["window_s"], hop_s=hop_s)
    cal = meta["calibration"]
    ws = ws.subset(warm_rows(ws, cal))
    ws = dataclasses.replace(ws, context=ws.context.subset(warm_rows(ws.context, cal)))
    fill = np.asarray(json.loads((out / "logreg.json").read_text())["fill"])
    # the nested procedure's rule and operating point: a fixed offset on the rest class
    assert not cal["centre_output"] and cal["output"]["class"] == "non-stress"
    step = pred.output_step()
    train_side = step.apply(pred.predict(feature_inputs(ws, np.arange(len(ws)), cal, fill)))
    rp = predict_recording(pred, excerpt)
    k0 = Preprocessor(meta["preprocess"]).process_recording(excerpt).k[0] / pred.rate
    live = {round(float(t), 3): p for t, p in zip(rp.t_end, rp.probs, strict=True)}
    assert len(ws) >= 30
    for t, p in zip(ws.t_end, train_side, strict=True):
        np.testing.assert_allclose(live[round(float(t + k0), 3)], p, atol=1e-6)
