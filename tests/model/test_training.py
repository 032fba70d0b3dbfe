from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

from affectstream.data.simulate import simulate_seed_layout
from affectstream.model.train_config import REDUCED, TrainConfig
from affectstream.model.training import run_training


@pytest.mark.slow
def test_seed_layout_simulate_and_train_end_to_end(tmp_path):
    csv = simulate_seed_layout(
        tmp_path / "sim", n_subjects=6, records_per_emotion=1, record_length=6000, fs=300.0
    )
    cfg = TrainConfig.from_dict(
        {**REDUCED, "window_s": 20.0, "data": {"record_length": 6000, "fs": 300.0}}
    )
    report = run_training(csv, tmp_path / "out", cfg, progress=None)
    assert report["dataset"]["n_subjects"] == 6
    assert report["split"]["by"] == "subject"
    assert report["calibration"]["kind"] == "subject"  # 20 s records hold no 5-minute baseline
    assert set(report["models"]) == {"majority", "logreg", "forest", "cnn", "researcher_cnn"}
    assert report["chance_level"] == pytest.approx(1 / 6)
    # six classes: the hindsight bound centres each person's output; no binary threshold
    h = report["models"]["logreg"]["hindsight"]
    assert 0 <= h["person_centred"] <= 1 and h["best_threshold_per_person"] is None
    for name in (
        "report.md",
        "report.json",
        "confusion.png",
        "per_subject.png",
        "training_curves.png",
        "cnn.keras",
        "model_meta.json",
        "representative.npy",
    ):
        assert (tmp_path / "out" / name).is_file(), name
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {a["split"] for a in doc["ablation"]} == {"subject-wise", "record-wise (leaky)"}
    # 20 s records hold no 5-minute warm-up: running calibration is not compared on them
    assert {a["calibration"] for a in doc["ablation"]} == {"none", "subject"}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "original researcher's CNN" in md and "only 6 subjects" in md
    assert "When in a labelled period" not in md  # one-record labels: nothing to compare
    # the feature models again on 2 and 3 of each fold's 3 training subjects
    curve = doc["learning_curve"]
    assert {(r["model"], r["n_subjects"]) for r in curve} == {
        (m, n) for m in ("logreg", "forest") for n in (2, 3)
    }
    full = {r["model"]: r["balanced_accuracy"] for r in curve if r["n_subjects"] == 3}
    for m in ("logreg", "forest"):  # the whole training set is the main table's fit
        assert full[m] == pytest.approx(doc["models"][m]["balanced_accuracy"])
    assert (
        "## Would more people help?" in md and (tmp_path / "out" / "learning_curve.png").is_file()
    )


@pytest.mark.slow
def test_stress_predict_reduced_run(reduced_run):
    out, report = reduced_run
    assert report["dataset"]["classes"] == ["non-stress", "stress"]
    assert report["calibration"]["kind"] == "running"
    assert report["models"]["majority"]["balanced_accuracy"] == pytest.approx(0.5)
    # the monitor never predicts inside the warm-up, so training does not score those windows
    assert report["dataset"]["n_windows"] > 0
    assert any("warm up the running calibration" in w for w in report["warnings"])
    cals = {a["calibration"] for a in report["ablation"]}
    assert cals == {"none", "baseline", "running", "rest", "subject", "running, output centred"}
    # every model but the constant majority is scored as served (output centred) and without
    assert report["calibration"]["centre_output"] is True
    assert "uncentred" not in report["models"]["majority"]
    n_subjects = report["dataset"]["n_subjects"]
    for name in ("logreg", "cnn"):
        u = report["models"][name]["uncentred"]
        assert 0 <= u["balanced_accuracy"] <= 1
        assert 0 <= u["subjects_better"] + u["subjects_worse"] <= n_subjects
    # both exportable models are saved, with their cross-validated scores
    meta = json.loads((out / "model_meta.json").read_text())
    assert set(meta["exportable"]) == {"logreg", "cnn"}
    for entry in meta["exportable"].values():
        assert (out / entry["file"]).is_file() and (out / entry["representative"]).is_file()
    # the CNN's figure is the comparison table's; the logistic regression's, its procedure's
    assert (
        meta["exportable"]["cnn"]["cv_balanced_accuracy"]
        == (report["models"]["cnn"]["balanced_accuracy"])
    )
    nested = report["nested"]
    logreg = meta["exportable"]["logreg"]
    assert (
        logreg["nested"]
        and logreg["cv_balanced_accuracy"] == (nested["procedure"]["balanced_accuracy"])
    )
    assert logreg["calibration"]["kind"] in ("running", "anchored")
    assert logreg["calibration"]["output"]["class"] == "non-stress"
    assert set(report["exportable"]) == {"logreg", "cnn"}
    # the headline: nested figures with the prevalence checks, one choice per outer fold
    proc = nested["procedure"]
    assert 0 <= proc["calm_day"]["false_alarm_rate"] <= 1 and proc["calm_day"]["n_windows"] > 0
    assert 0 <= proc["stress_heavy"]["sensitivity"] <= 1
    assert 0 < proc["p_value"] <= 1 and proc["chance_level"] == 0.5
    assert len(nested["folds"]) == report["split"]["n_folds"]
    assert set(nested["candidates"]) == {
        "running (warm-up 300 s), C=0.1",
        "anchored 120-300 s, C=0.1",
    }
    md = (out / "report.md").read_text()
    assert "## Export" in md and "output not centred" in md and " worse" in md
    assert "## Headline: the exported procedure, nested" in md and "calm-day false alarms" in md
    # beside each model as served: what calibration could reach with hindsight
    assert "hindsight" not in report["models"]["majority"]
    for name in ("logreg", "cnn"):
        h = report["models"][name]["hindsight"]
        assert all(0 <= h[key] <= 1 for key in h), h
    assert "## How far calibration to the person could go (hindsight bounds)" in md
    # when in a labelled period the best model errs: every class, from the period's start on
    ages = report["models"][report["best_model"]]["by_label_age"]
    assert {r["class"] for r in ages} == {"non-stress", "stress"}
    assert sum(r["n_windows"] for r in ages) == report["dataset"]["n_windows"]
    assert "## When in a labelled period the best model errs" in md
    # every window's held-out prediction is written out and agrees with the report's figures
    import csv

    from sklearn.metrics import balanced_accuracy_score

    with open(out / report["predictions"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report["dataset"]["n_windows"]
    folds_of = {}
    for r in rows:
        folds_of.setdefault(r["subject"], set()).add(r["fold"])
        assert float(r["t_end_s"]) - float(r["t_start_s"]) == pytest.approx(60.0, abs=1e-3)
    assert all(len(f) == 1 for f in folds_of.values())  # each subject in one test fold
    assert {int(r["fold"]) for r in rows} == set(range(1, report["split"]["n_folds"] + 1))
    labels = [r["label"] for r in rows]
    for m, res in report["models"].items():
        got = balanced_accuracy_score(labels, [r[f"{m}_pred"] for r in rows])
        assert got == pytest.approx(res["balanced_accuracy"], abs=1e-9), m
        total = [float(r[f"{m}_p_non-stress"]) + float(r[f"{m}_p_stress"]) for r in rows]
        np.testing.assert_allclose(total, 1.0, atol=1e-4)
        if "uncentred" in res:  # the model's own output before centring is there too
            raw = [
                "stress"
                if float(r[f"{m}_raw_p_stress"]) > float(r[f"{m}_raw_p_non-stress"])
                else "non-stress"
                for r in rows
            ]
            assert balanced_accuracy_score(labels, raw) == pytest.approx(
                res["uncentred"]["balanced_accuracy"], abs=1e-9
            ), m
        else:
            assert f"{m}_raw_p_stress" not in rows[0]
    # the progress shows each fold's held-out figures as served, as the table does
    progress = (out.parent / "progress.txt").read_text().splitlines()
    shown = [ln for ln in progress if ln.startswith("fold ")]
    assert len(shown) == report["split"]["n_folds"]
    for f, line in enumerate(shown, start=1):
        fold = [r for r in rows if int(r["fold"]) == f]
        for m in report["models"]:
            got = balanced_accuracy_score(
                [r["label"] for r in fold], [r[f"{m}_pred"] for r in fold]
            )
            assert f"{m} {got:.2f}" in line, (m, line)
    assert "predictions.csv" in md
    # two training subjects per fold: no learning curve to draw
    assert report["learning_curve"] == [] and "Would more people help" not in md


def test_rest_calibration_takes_the_rest_like_labels_or_says_which_to_name():
    from affectstream.data import Recording, Signal
    from affectstream.data.recording import LabelInterval
    from affectstream.model.training import resolve_rule

    def rec(*labels: str) -> Recording:
        sig = {"eda": Signal(np.ones(400), 4.0, 0.0, ("eda",))}
        ivs = [LabelInterval(x, 50.0 * i, 50.0 * (i + 1)) for i, x in enumerate(labels)]
        return Recording(sig, subject="p", labels=ivs)

    rule = resolve_rule({"kind": "rest"}, [rec("stress", "Non-Stress")], True)
    assert rule["labels"] == ["Non-Stress"] and rule["baseline_s"] == 300.0
    assert resolve_rule({"kind": "rest", "labels": ["b"]}, [rec("a", "b")], True)["labels"] == ["b"]
    with pytest.raises(ValueError, match=r"calibration.labels"):
        resolve_rule({"kind": "rest"}, [rec("anger", "fear")], True)
    assert resolve_rule(None, [rec("a")], False) == {
        "kind": "subject",
        "clip": 4.0,
        "centre_output": False,
    }
    # output centring fails the calm-day check: only a rule that asks for it has it
    assert resolve_rule(None, [rec("a")], True)["centre_output"] is False
    assert resolve_rule({"kind": "running"}, [rec("a")], True)["centre_output"] is False
    on = {"kind": "running", "centre_output": True}
    assert resolve_rule(on, [rec("a")], True)["centre_output"] is True
    assert rule["centre_output"] is False  # rest


@pytest.mark.slow
def test_training_with_rest_calibration_exports_only_the_nested_procedure(tmp_path, stress_predict):
    cfg = TrainConfig.from_dict(
        {
            **REDUCED,
            "max_subjects": 3,
            "n_splits": 3,
            "models": ["majority", "logreg"],
            "calibration": {"kind": "rest"},
        }
    )
    report = run_training(stress_predict, tmp_path, cfg, progress=None)
    assert report["calibration"]["kind"] == "rest"
    assert report["calibration"]["labels"] == ["non-stress"]
    assert "rest" in {a["calibration"] for a in report["ablation"]}
    # the table's rule needs rest periods marked live, so none of its models is exported; the
    # nested procedure chooses its own feature rule, which the monitor serves
    assert "rest periods" in report["not_exported"]
    meta = json.loads((tmp_path / "model_meta.json").read_text())
    assert set(meta["exportable"]) == {"logreg"}
    assert meta["exportable"]["logreg"]["calibration"]["kind"] in ("running", "anchored")
    assert "rest periods" in (tmp_path / "report.md").read_text()
