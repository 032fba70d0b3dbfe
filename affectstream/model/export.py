"""``affectstream export``: a trained model and its preprocessing into one int8 bundle.

Training side (needs the ``train`` extra). ``affectstream train`` saves two exportable models:
the compact CNN (input: normalised frames) and the logistic regression on running-calibrated
window features (input: features; exported as one dense softmax layer with the imputation's
fill values in the bundle and the standardisation folded into its weights). Export takes the
one with the better cross-validated balanced accuracy unless told which. The full-integer
conversion is calibrated on real training windows; the float TFLite is written beside the
bundle for comparison, and the int8 model is checked against it on every labelled window of
the training data.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from affectstream._version import __version__
from affectstream.dsp.calibration import DEFAULT_BASELINE_S, centre_outputs, check_rule
from affectstream.dsp.features import FEATURES_VERSION
from affectstream.model.bundle import read_bundle, sha256, write_bundle
from affectstream.model.calibrated import calibrated_inputs, feature_inputs, warm_rows
from affectstream.model.metrics import balanced_accuracy
from affectstream.model.predictor import Predictor
from affectstream.model.windows import make_windows


def convert(model: Any, representative: np.ndarray, int8: bool) -> bytes:
    """TFLite bytes of a Keras model; full-integer int8 when ``int8``."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:

        def rep():
            for w in representative:
                yield [w[None].astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


#: What ``--model`` accepts: a saved model's name, or the better of them.
MODEL_CHOICES = ("best", "cnn", "logreg")


def logreg_keras(params: dict[str, Any]) -> Any:
    """A Keras dense softmax layer equal to the saved logistic regression pipeline on inputs
    whose missing values are already filled: the standardisation is folded into the weights."""
    from affectstream.model.cnn import load_keras

    keras = load_keras()
    w = np.atleast_2d(np.asarray(params["coef"], dtype=np.float64))
    b = np.atleast_1d(np.asarray(params["intercept"], dtype=np.float64))
    mu = np.asarray(params["scaler_mean"], dtype=np.float64)
    sc = np.asarray(params["scaler_scale"], dtype=np.float64)
    k, n = len(params["classes"]), w.shape[1]
    wf = w / sc
    bf = b - wf @ mu
    cls = list(params["model_classes"])
    kernel = np.zeros((n, k))
    bias = np.full(k, -20.0)  # a class absent from training is never predicted
    if w.shape[0] == 1:  # binary: one logit, of the second class against the first
        bias[cls[0]] = 0.0
        kernel[:, cls[1]], bias[cls[1]] = wf[0], bf[0]
    else:
        kernel[:, cls], bias[cls] = wf.T, bf
    inp = keras.Input((n,), name="features")
    dense = keras.layers.Dense(k, activation="softmax", name="probs")
    model = keras.Model(inp, dense(inp), name="logreg")
    dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return model


def _exportable(src: Path, meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = meta.get("exportable")
    if found is None and (src / "cnn.keras").is_file():  # a folder from before logreg export
        found = {"cnn": {"file": "cnn.keras", "input": "frames"}}
        found["cnn"]["representative"] = "representative.npy"
        found["cnn"]["cv_balanced_accuracy"] = meta["cv_summary"]["cnn"]["balanced_accuracy"]
    return found or {}


def _without_derived_channels(meta: dict[str, Any]) -> dict[str, Any]:
    """The training metadata without the Preprocessor's derived channels (the last columns of
    the frames), which a feature model does not read: the monitor then does not compute them."""
    n = len(meta["preprocess"].get("derived") or [])
    if n == 0:
        return meta
    out = {**meta, "preprocess": {**meta["preprocess"], "derived": []}}
    out["channels"] = meta["channels"][:-n]
    cal = dict(meta["calibration"])
    for key in ("global_centre", "global_scale"):
        if key in cal:
            cal[key] = cal[key][:-n]
    out["calibration"] = cal
    return out


def choose_model(src: Path, meta: dict[str, Any], model: str) -> str:
    """The saved model to export: ``model``, or for ``best`` the one with the better
    cross-validated balanced accuracy."""
    found = _exportable(src, meta)
    if model not in MODEL_CHOICES:
        raise ValueError(f"model {model!r}: use one of {', '.join(MODEL_CHOICES)}")
    if not found:
        raise FileNotFoundError(
            f"{src}: no exportable model; train with 'cnn' or 'logreg' (running calibration) "
            "among the models"
        )
    if model == "best":  # a procedure scored nested, at its operating point, wins over fixed ones
        return max(
            found, key=lambda m: (bool(found[m].get("nested")), found[m]["cv_balanced_accuracy"])
        )
    if model not in found:
        raise FileNotFoundError(
            f"{src}: training saved no {model} model (it saved {sorted(found)}); "
            f"{'logreg is saved only with running calibration; ' if model == 'logreg' else ''}"
            "retrain with it among the models"
        )
    return model


def _windows_for_check(meta: dict[str, Any]):
    from affectstream.model.training import load_labelled

    recs = load_labelled(meta["data"], meta.get("data_options", {}))
    keep = set(meta["trained_on_subjects"])
    recs = [r for r in recs if (r.subject or r.name) in keep] or recs
    ws = make_windows(
        recs,
        meta["preprocess"],
        window_s=meta["window_s"],
        hop_s=meta["hop_s"],
        baseline_s=float(meta["calibration"].get("baseline_s", DEFAULT_BASELINE_S)),
        classes=meta["classes"],
    )
    return ws.subset(warm_rows(ws, meta["calibration"]))


def export_bundle(
    train_dir: str | Path,
    out: str | Path,
    *,
    model: str = "best",
    check: bool = True,
    progress: Any = print,
) -> dict[str, Any]:
    """Write the int8 bundle ``out`` and ``out`` with ``.float.tflite``; return a summary.

    ``model``: ``best`` (the saved model with the better cross-validated balanced accuracy),
    ``cnn`` or ``logreg``.
    """
    from affectstream.model.cnn import load_keras

    keras = load_keras()
    src = Path(train_dir)
    if not (src / "model_meta.json").is_file():
        raise FileNotFoundError(
            f"{src / 'model_meta.json'} is missing: export takes the folder `affectstream train` "
            "wrote with the CNN or the logistic regression among its models"
        )
    meta = json.loads((src / "model_meta.json").read_text())
    name = choose_model(src, meta, model)
    entry = _exportable(src, meta)[name]
    for f in (entry["file"], entry["representative"]):
        if not (src / f).is_file():
            raise FileNotFoundError(f"{src / f} is missing; train again into {src}")
    params: dict[str, Any] = {}
    if entry["input"] == "features":
        params = json.loads((src / entry["file"]).read_text())
        version = params.get("features_version", 1)
        if version != FEATURES_VERSION:
            raise ValueError(
                f"{src / entry['file']} was trained on window features of version {version}; "
                f"this affectstream computes version {FEATURES_VERSION}: train again into {src}"
            )
        net = logreg_keras(params)
        input_meta = {
            "kind": "features",
            "names": params["feature_names"],
            "fill": params["fill"],
            "features_version": FEATURES_VERSION,
        }
    else:
        net = keras.models.load_model(src / entry["file"])
        input_meta = {"kind": "frames"}
    rep = np.load(src / entry["representative"])
    say = progress or (lambda _m: None)
    say(
        f"exporting {name} (cross-validated balanced accuracy "
        f"{entry['cv_balanced_accuracy']:.3f}): int8 with {len(rep)} representative windows"
    )
    int8 = convert(net, rep, int8=True)
    flt = convert(net, rep, int8=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    float_path = out.with_suffix(".float.tflite")
    float_path.write_bytes(flt)
    report = {}
    rp = src / "report.json"
    if rp.is_file():
        r = json.loads(rp.read_text())
        report = {
            "cv": {
                m: {"balanced_accuracy": v["balanced_accuracy"], "macro_f1": v["macro_f1"]}
                for m, v in r["models"].items()
            },
            "split": r["split"],
            "n_subjects": r["dataset"]["n_subjects"],
            "n_windows": r["dataset"]["n_windows"],
            "chance_level": r["chance_level"],
            "best_model": r["best_model"],
        }
        n = r.get("nested") or {}
        if entry.get("nested") and "procedure" in n:
            proc = n["procedure"]
            report["nested"] = {
                "n_subjects": r["dataset"]["n_subjects"],
                "balanced_accuracy": proc["balanced_accuracy"],
                "subject_ci95": proc["subject_balanced_accuracy"]["ci95"],
                "chance_level": proc["chance_level"],
                "p_value": proc["p_value"],
                "calm_day_false_alarm_rate": proc["calm_day"]["false_alarm_rate"],
                "stress_heavy_sensitivity": proc["stress_heavy"]["sensitivity"],
                "false_alarm_target": n["false_alarm_target"],
                "procedure": n["final"]["candidate"],
            }
    if input_meta["kind"] == "features":
        meta = _without_derived_channels(meta)
    if entry.get("calibration"):  # the rule and operating point the procedure chose for it
        meta = {**meta, "calibration": entry["calibration"]}
    n_frames = int(round(meta["window_s"] * meta["preprocess"]["model_rate"]))
    metadata = {
        "model_id": f"affectstream-{name}-{sha256(int8)[:10]}",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "affectstream_version": __version__,
        "classes": meta["classes"],
        "channels": meta["channels"],
        "modalities": [m["name"] for m in meta["preprocess"]["modalities"]],
        "model_rate": meta["preprocess"]["model_rate"],
        "window_s": meta["window_s"],
        "window_frames": n_frames,
        "default_hop_s": meta["hop_s"],
        "max_missing": meta.get("max_missing", 0.1),
        "preprocess": meta["preprocess"],
        "calibration": meta["calibration"],
        "input": input_meta,
        "quantization": {},
        "training": {
            "model": name,
            "subjects": meta["trained_on_subjects"],
            "data": meta.get("data"),
            "report": report,
            "epochs": entry.get("epochs_trained", meta.get("epochs_trained")),
        },
        "sha256": "",
    }
    write_bundle(out, metadata, int8)
    pred = Predictor(out)
    d = pred.describe()
    metadata["quantization"] = {
        "input": {
            "dtype": d["input"]["dtype"],
            "scale": d["input"]["scale"],
            "zero_point": d["input"]["zero_point"],
        },
        "output": {
            "dtype": d["output"]["dtype"],
            "scale": d["output"]["scale"],
            "zero_point": d["output"]["zero_point"],
        },
        "representative_windows": int(len(rep)),
    }
    summary: dict[str, Any] = {
        "model": name,
        "bundle": str(out),
        "bundle_bytes": 0,
        "float_tflite": str(float_path),
        "float_bytes": len(flt),
    }
    if check and meta.get("data"):
        say("checking int8 against float on the training data's labelled windows")
        cal = meta["calibration"]
        ws = _windows_for_check(meta)
        idx = np.arange(len(ws))
        if input_meta["kind"] == "features":
            x = feature_inputs(ws, idx, cal, np.asarray(params["fill"]))
        else:
            gc, gs = np.asarray(cal["global_centre"]), np.asarray(cal["global_scale"])
            x = calibrated_inputs(ws, idx, cal, gc, gs)
        p_int8 = np.concatenate([pred.predict(x[i : i + 256]) for i in range(0, len(x), 256)])
        p_float = _float_predict(flt, x)
        step = pred.output_step()
        if check_rule(cal)["centre_output"]:  # compared as served (labelled windows only here)
            p_int8 = centre_outputs(p_int8, ws.session, ws.t_end)
            p_float = centre_outputs(p_float, ws.session, ws.t_end)
        elif step is not None:  # the operating point: stateless, the same for everyone
            p_int8, p_float = step.apply(p_int8), step.apply(p_float)
        k = len(ws.classes)
        check_res = {
            "n_windows": int(len(ws)),
            "argmax_agreement": float(np.mean(p_int8.argmax(1) == p_float.argmax(1))),
            "balanced_accuracy_float": balanced_accuracy(ws.y, p_float.argmax(1), k),
            "balanced_accuracy_int8": balanced_accuracy(ws.y, p_int8.argmax(1), k),
            "max_abs_prob_diff": float(np.max(np.abs(p_int8 - p_float))),
            "note": "on the windows the exported model was trained on (its own figure there is "
            "optimistic; the int8-float difference is what this checks)",
        }
        metadata["quantization"]["check"] = check_res
        summary["check"] = check_res
    write_bundle(out, metadata, int8)
    read_bundle(out)  # what we wrote must read back
    summary["bundle_bytes"] = out.stat().st_size
    return summary


def _float_predict(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    from affectstream.model.interpreter import make_interpreter

    interp, _ = make_interpreter(model_bytes)
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    res = []
    for i in range(0, len(x), 256):
        b = x[i : i + 256]
        interp.resize_tensor_input(inp, list(b.shape))
        interp.allocate_tensors()
        interp.set_tensor(inp, b.astype(np.float32))
        interp.invoke()
        res.append(interp.get_tensor(out).copy())
    return np.concatenate(res)
