"""The acceptance of a folder of per-person CSVs whose only cardiac channel is the device's own
heart rate: ``affectstream train FOLDER`` splits by subject, ``export`` makes a bundle, and the
monitor serves it over MQTT from ``hr`` chunks with the predictions offline prediction gives."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from affectstream.data import load_recordings
from affectstream.model.predictor import Predictor
from affectstream.stream.config import BrokerConfig, parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.replay_publish import publish_mqtt
from tests.per_person_csv import write_per_person_csvs
from tests.stream.parity import assert_parity, offline_by_time, window_sink

pytest.importorskip("sklearn")

SUBJECTS = ["S02", "S03", "S04", "S05", "S06", "S07"]
ROOT = Path(__file__).resolve().parents[1].parent / "configs" / "feature_models.toml"


@pytest.fixture(scope="module")
def trained(stress_predict, tmp_path_factory) -> tuple[Path, Path, Path]:
    """The per-person CSV folder, the training run and the exported bundle."""
    pytest.importorskip("tensorflow")
    from affectstream.tools.cli import main

    tmp = tmp_path_factory.mktemp("hr_folder")
    folder = tmp / "people"
    write_per_person_csvs(stress_predict, folder, SUBJECTS)
    out = tmp / "run"
    rc = main(["train", str(folder), "--out", str(out), "--reduced", "--config", str(ROOT)])
    assert rc == 0
    bundle = tmp / "hr.afb"
    assert main(["export", str(out), "--out", str(bundle)]) == 0
    return folder, out, bundle


def test_folder_of_per_person_csvs_trains_subject_wise_on_hr(trained):
    _folder, out, bundle = trained
    report = json.loads((out / "report.json").read_text())
    assert report["errors"] == []
    assert report["dataset"]["channels"] == ["eda", "temp", "hr"]
    assert report["dataset"]["has_subject_ids"]
    assert report["split"]["by"] == "subject"
    meta = Predictor(bundle).metadata
    assert meta["input"]["names"][-3:] == ["hr_mean_bpm", "hr_std_bpm", "hr_slope_bpm_per_s"]
    assert meta["preprocess"]["modalities"][-1] == {
        "name": "hr",
        "fs": 1.0,
        "channels": ["hr"],
        "filters": [],
        "max_gap_s": 3.0,
    }


def test_the_monitor_serves_the_bundle_over_mqtt_from_hr_chunks(trained, broker):
    folder, _, bundle = trained
    rec = load_recordings(folder / "S04.csv")[0]
    rec = rec.slice_time(rec.start_time, rec.start_time + 600)
    pred = Predictor(bundle)
    offline = offline_by_time(pred, rec)
    assert sum(v["label"] is not None for v in offline.values()) >= 8
    records: list[dict] = []
    cfg = parse_config(
        {
            "model": str(bundle),
            "broker": {"host": "127.0.0.1", "port": broker.port},
            "source": [{"kind": "mqtt"}],
            "sink": [{"kind": "mqtt"}],
        }
    )
    daemon = Daemon(cfg, extra_sinks=[window_sink(records)])

    async def main() -> None:
        task = asyncio.create_task(daemon.run())
        while daemon.mqtt is None:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(daemon.mqtt.connected.wait(), 10)
        b = BrokerConfig(host="127.0.0.1", port=broker.port)
        await publish_mqtt(rec, b, "hr-wrist", speed=0, modalities=["hr", "eda", "temp"])
        deadline = time.monotonic() + 30
        while len(records) < len(offline) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    assert len(records) == len(offline)
    assert assert_parity(records, offline, pred.classes) >= 8
    assert daemon.counters["bad_payloads"] == 0
