"""A reduced training run on real Stress-Predict data, shared by the training and export tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reduced_run(tmp_path_factory, stress_predict) -> tuple[Path, dict]:
    """Four subjects, two folds, few epochs: (training folder, report); what it showed while it
    trained is in ``progress.txt`` beside the folder."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("sklearn")
    from affectstream.model.train_config import REDUCED, TrainConfig
    from affectstream.model.training import run_training

    cfg = TrainConfig.from_dict(
        {
            **REDUCED,
            "max_subjects": 4,
            "models": ["majority", "logreg", "cnn"],
            # the comparison table with output centring, to test that path too (not a default)
            "calibration": {"kind": "running", "centre_output": True},
        }
    )
    out = tmp_path_factory.mktemp("reduced") / "out"
    lines: list[str] = []
    report = run_training(stress_predict, out, cfg, progress=lines.append)
    (out.parent / "progress.txt").write_text("\n".join(lines) + "\n")
    return out, report
