from __future__ import annotations

import json
import subprocess
import sys

import pytest

from affectstream.model.bundle import read_bundle
from affectstream.model.predictor import Predictor
from affectstream.tools.cli import build_parser, main

SUBCOMMANDS = [
    "demo",
    "data",
    "beats",
    "bench",
    "train",
    "simulate",
    "export",
    "inspect",
    "evaluate",
    "run",
    "replay",
]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "affectstream", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )


def test_help_lists_every_subcommand():
    out = run_cli("--help")
    assert out.returncode == 0
    for sub in SUBCOMMANDS:
        assert sub in out.stdout


@pytest.mark.parametrize("sub", [*SUBCOMMANDS, "data info"])
def test_each_subcommand_has_help(sub, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*sub.split(), "--help"])
    assert exc.value.code == 0
    assert "usage: affectstream" in capsys.readouterr().out


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_data_info_json_lists_every_subject(stress_predict):
    out = run_cli("data", "info", str(stress_predict), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["format"] == "e4-dataset" and doc["n_subjects"] == 25
    subjects = {r["subject"]: r for r in doc["recordings"]}
    assert set(subjects) == {f"S{i:02d}" for i in range(1, 26)}
    assert subjects["S02"]["label_seconds"] == {"non-stress": 2396.0, "stress": 1161.0}
    assert all(r["duration_s"] > 3000 for r in doc["recordings"])


def test_data_info_table_on_the_bundled_excerpt(capsys):
    from affectstream.data.demo_recording import excerpt_path

    assert main(["data", "info", str(excerpt_path())]) == 0
    out = capsys.readouterr().out
    assert "npz" in out and "S13" in out and "stress" in out


def test_beats_scores_mitdb_100(mitdb_100):
    out = run_cli("beats", str(mitdb_100), "--reference", "atr", "--json")
    assert out.returncode == 0, out.stderr
    score = json.loads(out.stdout)["results"][0]["score"]
    assert score["sensitivity"] >= 0.995 and score["positive_predictivity"] >= 0.995


def test_beats_compares_bvp_heart_rate_with_the_e4(stress_predict):
    out = run_cli("beats", str(stress_predict / "Raw_data" / "S13"), "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)["results"][0]
    assert r["modality"] == "bvp" and r["device_hr"]["n_compared"] > 3000
    assert r["device_hr"]["median_abs_diff_bpm"] < 10.0


def test_bench_model_json():
    out = run_cli("bench", "model", "--hops", "50", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)["model"]
    assert r["single_ms_median"] > 0 and r["batch"] == 64 and r["batch_ms_median"] > 0


@pytest.mark.slow
def test_bench_scale_json_at_the_models_hop():
    out = run_cli("bench", "scale", "--devices", "2", "6", "--hops", "2", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)["scale"]
    hop = read_bundle("default").metadata["default_hop_s"]
    for c in r["compute"]:
        assert c["hop_s"] == hop and c["predictions_per_hop"] == c["devices"]
        assert c["input"] == Predictor("default").input_kind
    assert r["obvious"]["us_per_device_hop"] > 0 and r["obvious_ratio"] > 0
    assert r["replay"]["windows"] > 200


def test_inspect_and_evaluate_the_default_model(stress_predict):
    out = run_cli("inspect", "default", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["tflite"]["input"]["dtype"] == "int8" and doc["file_bytes"] <= 64 * 1024
    out = run_cli("evaluate", "default", str(stress_predict), "--subjects", "S13", "S02", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert {"balanced_accuracy", "macro_f1", "n_windows", "per_subject"} <= set(res)
    assert set(res["per_subject"]) == {"S02", "S13"}
    assert res["subjects_seen_in_training"] == ["S02"] and "optimistic" in res["note"]


def test_bench_dsp_json_reports_both_paths():
    out = run_cli("bench", "dsp", "--hops", "20", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)["dsp"]["scenarios"]
    assert len(res) == 2
    for r in res.values():
        assert r["incremental_us_median"] > 0 and r["full_recompute_us_median"] > 0


def test_demo_replays_the_excerpt_through_the_bundled_model():
    out = run_cli("demo")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    rows = [ln for ln in lines if ln.strip().endswith(("ok", "MISS"))]
    assert len(rows) >= 30  # one prediction per hop after the 300 s baseline
    assert lines[-1].startswith("accuracy on windows with one true label:")
