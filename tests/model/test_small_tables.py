"""``affectstream train`` on the researcher's layout, small: a few records per class of one ECG
column at 300 Hz, labels in record order, with and without a subject column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from affectstream.data.groups import assign_subjects
from affectstream.data.long_csv import read_long_csv
from affectstream.data.simulate import synth_ecg

pytest.importorskip("sklearn")

FS = 300.0
SECONDS = 20.0
N = int(SECONDS * FS)


def ecg_table(
    path: Path, n_classes: int, per_class: int, subjects: list[str] | None = None
) -> Path:
    """Write a long CSV: ``per_class`` records of each class, labels in record order (all of
    class 0 first); with ``subjects``, record ``j`` of a class belongs to ``subjects[j]``."""
    rng = np.random.default_rng(7)
    head = "ECG,label" + (",subject" if subjects else "")
    with open(path, "w") as fh:
        fh.write(head + "\n")
        for c in range(n_classes):
            for j in range(per_class):
                x = synth_ecg(SECONDS, FS, 62 + 8 * c + rng.normal(0, 2), 0.04, 1.0, rng)
                tail = f",{subjects[j]}" if subjects else ""
                fh.write("\n".join(f"{v:.4f},{c}{tail}" for v in x) + "\n")
    return path


def train(tmp_path: Path, csv: Path, models: list[str], *extra: str) -> tuple[int, Path]:
    """Run ``affectstream train`` with the reduced settings on 20 s windows."""
    from affectstream.tools.cli import main

    cfg = tmp_path / "train.toml"
    cfg.write_text(f"window_s = 20.0\nmodels = {json.dumps(models)}\n")
    out = tmp_path / "out"
    args = ["train", str(csv), "--record-length", str(N), "--fs", "300", "--out", str(out)]
    rc = main([*args, "--reduced", "--config", str(cfg), "--quiet", *extra])
    return rc, out


@pytest.mark.slow
def test_no_subject_column_every_model_on_one_ecg_column(tmp_path):
    pytest.importorskip("tensorflow")
    csv = ecg_table(tmp_path / "long.csv", 3, 3)
    models = ["majority", "logreg", "forest", "cnn", "researcher_cnn"]
    rc, out = train(tmp_path, csv, models)
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["errors"] == [] and set(report["models"]) == set(models)
    # one ECG lead: its frames and a heart-rate channel from its R peaks
    assert report["dataset"]["channels"] == ["ecg", "heart_rate"]
    assert not report["dataset"]["has_subject_ids"]
    # split by recording, stratified, every class in every training set; the count is said
    split = report["split"]
    assert split["by"] == "recording" and split["method"] == "stratified group k-fold"
    assert split["n_folds"] == 2
    # one window per record: the permutation test moves labels between records
    assert "between groups" in report["permutation_test"]
    assert report["calibration"]["kind"] == "none"
    # three windows per class: the stages that compare small differences are skipped, and said
    assert report["ablation"] == [] and report["learning_curve"] == []
    assert len(report["skipped"]) == 2
    for name in ("cnn", "researcher_cnn"):  # the networks explain themselves
        net = report["networks"][name]
        assert net["parameters"] > net["windows"] > 0
    md = (out / "report.md").read_text()
    first = md.split("\n\n")[1]
    assert first.startswith("**No subject ids") and "--records-per-subject" in first
    assert "Stages skipped" in md and "original researcher's CNN" in md
    assert "What the networks learned" in md and "parameters for" in md
    assert (out / "cnn.keras").is_file() and (out / "training_curves.png").is_file()


@pytest.mark.slow
def test_subject_column_splits_by_subject(tmp_path):
    csv = ecg_table(tmp_path / "long.csv", 3, 3, subjects=["p1", "p2", "p3"])
    rc, out = train(tmp_path, csv, ["majority", "logreg", "forest"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["split"]["by"] == "subject" and report["dataset"]["n_subjects"] == 3
    assert report["calibration"]["kind"] == "subject"
    assert "circular shifts" in report["permutation_test"]
    md = (out / "report.md").read_text()
    assert "No subject ids" not in md and "3 subjects" in md


@pytest.mark.slow
def test_records_per_subject_gives_the_split_its_people(tmp_path):
    # laid out person by person: each person's three records of classes 0, 1, 2
    rng = np.random.default_rng(3)
    path = tmp_path / "people.csv"
    with open(path, "w") as fh:
        fh.write("ECG,label\n")
        for _person in range(3):
            for c in range(3):
                x = synth_ecg(SECONDS, FS, 62 + 8 * c, 0.04, 1.0, rng)
                fh.write("\n".join(f"{v:.4f},{c}" for v in x) + "\n")
    rc, out = train(tmp_path, path, ["majority", "logreg"], "--records-per-subject", "3")
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["split"]["by"] == "subject"
    assert report["dataset"]["subjects"] == ["s000", "s001", "s002"]


def test_groups_from_layout_or_file(tmp_path):
    csv = ecg_table(tmp_path / "long.csv", 2, 2)
    recs = read_long_csv(csv, record_length=N, fs=FS)
    assert [r.subject for r in assign_subjects(recs, records_per_subject=2)] == [
        "s000",
        "s000",
        "s001",
        "s001",
    ]
    with pytest.raises(ValueError, match="not a whole number of people of 3"):
        assign_subjects(recs, records_per_subject=3)
    listed = tmp_path / "groups.txt"
    listed.write_text("subject\na\nb\na\nb\n")
    assert [r.subject for r in assign_subjects(recs, groups_file=listed)] == ["a", "b", "a", "b"]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("record,subject\n0,x\n1,y\nrecord0002,x\n3,y\n")
    assert [r.subject for r in assign_subjects(recs, groups_file=pairs)] == ["x", "y", "x", "y"]
    pairs.write_text("0,x\n1,y\n")
    with pytest.raises(ValueError, match="no subject for record 2"):
        assign_subjects(recs, groups_file=pairs)
    listed.write_text("a\nb\n")
    with pytest.raises(ValueError, match="2 subject ids for 4 records"):
        assign_subjects(recs, groups_file=listed)


def test_a_class_in_one_record_is_refused_in_the_report_too(tmp_path, capsys):
    csv = ecg_table(tmp_path / "long.csv", 2, 2)
    with open(csv, "a") as fh:  # a third class, one record
        x = synth_ecg(SECONDS, FS, 90, 0.04, 1.0, np.random.default_rng(0))
        fh.write("\n".join(f"{v:.4f},2" for v in x) + "\n")
    rc, out = train(tmp_path, csv, ["majority", "logreg"])
    assert rc == 2
    assert "'2' (1 recording)" in capsys.readouterr().err
    md = (out / "report.md").read_text()
    assert "the split was refused" in md and "'2' (1 recording)" in md
    assert json.loads((out / "report.json").read_text())["refused"]


@pytest.mark.slow
def test_a_failing_late_stage_leaves_the_report_and_fails_the_exit_code(tmp_path):
    csv = ecg_table(tmp_path / "long.csv", 3, 3)
    out = tmp_path / "out"
    (out / "confusion.png").mkdir(parents=True)  # the figure cannot be written there
    rc, out = train(tmp_path, csv, ["majority", "logreg"])
    assert rc == 1
    report = json.loads((out / "report.json").read_text())
    assert [e["stage"] for e in report["errors"]] == ["figures"]
    md = (out / "report.md").read_text()
    assert "## Stages that failed" in md and "**figures**" in md
    assert "## Held-out results" in md and (out / "predictions.csv").is_file()
