"""Third-party LSL senders: plain pylsl outlets of every channel format, MNE-LSL's PlayerLSL,
stream types in other cases and aliases, outlets at the wrong rate."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid

import numpy as np
import pytest

from affectstream.model.predictor import Predictor
from affectstream.stream.clock import unix_to_lsl
from affectstream.stream.config import parse_config
from affectstream.stream.daemon import Daemon
from affectstream.stream.events import ChunkEvent
from affectstream.stream.lsl_source import modality_of, pull_chunk, sample_dtype
from affectstream.stream.replay import replay_chunks
from tests.stream.parity import assert_parity, offline_by_time, window_sink


def lsl_daemon(records: list[dict], **source) -> Daemon:
    cfg = parse_config(
        {
            "source": [{"kind": "lsl", "max_buflen_s": 1200, **source}],
            "sink": [{"kind": "jsonl", "path": "/dev/null"}],
        }
    )
    return Daemon(cfg, extra_sinks=[window_sink(records)])


def _outlet(name: str, stype: str, n_ch: int, fs: float, fmt: int, source_id: str, labels=()):
    import pylsl

    info = pylsl.StreamInfo(name, stype, n_ch, fs, fmt, source_id)
    if labels:
        chans = info.desc().append_child("channels")
        for lab in labels:
            chans.append_child("channel").append_child_value("label", lab)
    return pylsl.StreamOutlet(info, chunk_size=0, max_buffered=1200)


def test_modality_of_takes_cases_aliases_and_channel_labels():
    assert modality_of("gsr") == modality_of("GSR") == modality_of("EDA") == "eda"
    assert modality_of("ppg") == modality_of("BVP") == "bvp"
    assert modality_of("temperature") == modality_of("Temp") == "temp"
    assert modality_of("bio", ["BVP"]) == "bvp"
    assert modality_of("", ["PPG"]) == "bvp"
    assert modality_of("bio", ["BVP", "EDA"]) is None  # mixed: no single modality
    assert modality_of("bio") is None
    assert modality_of("Accelerometer", ["bvp"]) is None  # a named type is not overridden


@pytest.mark.parametrize(
    "fmt_name, values",
    [
        ("cf_float32", [1.5, -2.0, 3.25]),
        ("cf_double64", [1.5, -2.0, 3.25]),
        ("cf_int16", [1, -2, 32000]),
        ("cf_int32", [1, -2, 2_000_000]),
        ("cf_int8", [1, -2, 100]),
        ("cf_string", ["1.5", "-2", "n/a"]),
    ],
)
def test_every_channel_format_is_pulled_as_sent(fmt_name, values):
    import pylsl

    fmt = getattr(pylsl, fmt_name)
    uid = uuid.uuid4().hex[:8]
    out = _outlet(f"fmt-{uid}", "EDA", 3, 4.0, fmt, f"fmt-{uid}/eda")
    infos = pylsl.resolve_byprop("source_id", f"fmt-{uid}/eda", 1, 10)
    inlet = pylsl.StreamInlet(infos[0])
    inlet.open_stream(timeout=5)
    deadline = time.monotonic() + 10
    while not out.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.02)
    out.push_sample(values)
    out.push_sample(values)
    dtype = sample_dtype(infos[0].channel_format())
    buf = None if dtype is None else np.empty((64, 3), dtype=dtype)
    x, ts = np.empty((0, 3)), np.empty(0)
    while len(ts) < 2 and time.monotonic() < deadline:
        got, t = pull_chunk(inlet, buf, 3)
        x, ts = np.vstack([x, got]), np.concatenate([ts, t])
        time.sleep(0.02)
    want = [float(v) if v != "n/a" else np.nan for v in values]
    assert x.dtype == np.float64 and x.shape == (2, 3)
    np.testing.assert_array_equal(x, [want, want])


def _through(rec, fmt_name: str):
    """The recording as a sender of ``fmt_name`` carries it: float32-rounded, or (int formats,
    BVP only) rounded to integers."""
    signals = {}
    for m, s in rec.signals.items():
        d = s.data
        if fmt_name == "cf_float32":
            d = d.astype(np.float32).astype(np.float64)
        elif fmt_name.startswith("cf_int") and m == "bvp":
            d = np.round(d)
        signals[m] = dataclasses.replace(s, data=d)
    return dataclasses.replace(rec, signals=signals)


#: per device: the BVP / EDA / TEMP stream types it uses and the channel format of BVP
#: (float formats: of all three streams)
CLIENTS = {
    "cf_float32": ("PPG", "gsr", "temperature"),
    "cf_double64": ("bvp", "EDA", "Temp"),
    "cf_int16": ("BVP", "GSR", "TEMP"),
    "cf_int32": ("bio", "eda", "temp"),  # bio: matched by its channel label
}


def test_plain_pylsl_outlets_of_every_format_predict_as_the_replay(excerpt):
    import pylsl

    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 480)
    pred = Predictor("default")
    uid = uuid.uuid4().hex[:6]
    devices = {f"plain-{uid}-{fmt[3:]}": fmt for fmt in CLIENTS}
    offline = {d: offline_by_time(pred, _through(rec, fmt)) for d, fmt in devices.items()}
    records: list[dict] = []
    daemon = lsl_daemon(records)
    outlets: dict[str, dict[str, object]] = {}
    for d, fmt_name in devices.items():
        outlets[d] = {}
        for m, stype in zip(("bvp", "eda", "temp"), CLIENTS[fmt_name], strict=True):
            fmt = getattr(pylsl, fmt_name)
            if fmt_name.startswith("cf_int") and m != "bvp":
                fmt = pylsl.cf_double64
            s = rec.signals[m]
            outlets[d][m] = _outlet(f"{d}-{m}", stype, 1, s.fs, fmt, f"{d}/{m}", [m.upper()])

    async def main():
        task = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 20
        everything = [o for per in outlets.values() for o in per.values()]
        while not all(o.have_consumers() for o in everything) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for d, fmt_name in devices.items():
            sent = _through(rec, fmt_name)
            for n, ch in enumerate(replay_chunks(sent, ["bvp", "eda", "temp"])):
                # a third-party sender: its own timestamps on the LSL clock
                ts = unix_to_lsl(ch.start_time) + np.arange(len(ch.samples)) / ch.fs
                x = ch.samples
                if fmt_name.startswith("cf_int") and ch.modality == "bvp":
                    x = x.astype(np.int64)  # whole numbers, as an integer sender has them
                outlets[d][ch.modality].push_chunk(x.tolist(), ts.tolist())
                if n % 32 == 0:
                    await asyncio.sleep(0)
        deadline = time.monotonic() + 40
        want = sum(len(o) for o in offline.values())
        while len(records) < want and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    for d in devices:
        mine = [r for r in records if r["device"] == d]
        assert len(mine) == len(offline[d]), d
        assert assert_parity(mine, offline[d], pred.classes) > 0, d  # predictions, not abstentions
        assert all(r["clock"] == "lsl" for r in mine)


def _player_raw(rec, m: str, ch_type: str):
    import mne

    s = rec.signals[m]
    info = mne.create_info([m.upper()], s.fs, [ch_type])
    return mne.io.RawArray(s.data.T.copy(), info, verbose="error")


def test_mne_lsl_players_feed_the_daemon(excerpt):
    """PlayerLSL types its streams from MNE channel types (bio, gsr, temperature); they are
    matched, pulled sample for sample, on Unix time, and the device warms up."""
    pytest.importorskip("mne_lsl", reason="the bench extra (mne-lsl) is not installed")
    from mne_lsl.player import PlayerLSL

    logging.getLogger("mne_lsl").setLevel(logging.ERROR)
    rec = excerpt.slice_time(excerpt.start_time + 600, excerpt.start_time + 660)
    dev = f"mne-{uuid.uuid4().hex[:6]}"
    records: list[dict] = []
    got: list[ChunkEvent] = []

    class Watching(Daemon):
        async def emit(self, ev: ChunkEvent) -> bool:
            ok = await super().emit(ev)
            if ok:
                got.append(ev)
            return ok

    cfg = parse_config(
        {
            "source": [{"kind": "lsl"}],
            "sink": [{"kind": "jsonl", "path": "/dev/null"}],
            "calibrating_every_s": 1,
        }
    )
    from affectstream.stream.sinks import CallbackSink

    daemon = Watching(cfg, extra_sinks=[CallbackSink(records.append)])
    players = [
        PlayerLSL(
            _player_raw(rec, m, ch_type),
            chunk_size=chunk,
            n_repeat=1,
            name=f"{dev}-{m}",
            source_id=f"{dev}/{m}",
        )
        for m, ch_type, chunk in (("bvp", "bio", 16), ("eda", "gsr", 2), ("temp", "temperature", 2))
    ]
    assert [p._sinfo.stype for p in players] == ["bio", "gsr", "temperature"]

    async def main():
        task = asyncio.create_task(daemon.run())
        await asyncio.sleep(1.5)  # the daemon's resolver sees the streams as they appear
        t_start = time.time()
        for p in players:
            p.start()
        deadline = time.monotonic() + 20

        def enough():
            mods = [e.modality for e in got]
            return min(mods.count(m) for m in ("bvp", "eda", "temp")) >= 3 and records

        while not enough() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for p in players:
            p.stop()
        daemon.stop.set()
        await asyncio.wait_for(task, 20)
        return t_start

    t_start = asyncio.run(main())
    for m in ("bvp", "eda", "temp"):
        mine = [e for e in got if e.device == dev and e.modality == m]
        assert mine, f"no {m} from the players"
        x = np.concatenate([e.samples[:, 0] for e in mine])
        sent = rec.signals[m].data[:, 0]
        # the inlet may join after the first chunks: the samples are a stretch of the file's
        at = [k for k in range(len(sent) - len(x) + 1) if np.array_equal(sent[k : k + len(x)], x)]
        assert at, f"{m}: the samples pulled are not the player's, in order"
        assert mine[0].clock == "lsl"
        assert abs(mine[0].start_time - t_start) < 5  # LSL clock mapped to Unix time
    warm = [r for r in records if r["device"] == dev]
    assert warm and all(r["reason"] == "calibrating" and r["clock"] == "lsl" for r in warm)
    assert abs(warm[0]["t"] - t_start) < 10


@pytest.mark.slow
def test_mne_lsl_players_give_the_predictions_of_the_same_data_offline(excerpt, tmp_path):
    """PlayerLSL as the sending side, through to predictions: what the daemon predicts from the
    players' streams equals offline prediction of the samples it received (a frame model with
    no warm-up, so a minute of real-time playing gives predictions)."""
    pytest.importorskip("mne_lsl", reason="the bench extra (mne-lsl) is not installed")
    from mne_lsl.player import PlayerLSL

    from affectstream.data import Recording, Signal
    from affectstream.model.bundle import read_bundle, write_bundle
    from tests.conftest import CNN_BUNDLE

    logging.getLogger("mne_lsl").setLevel(logging.ERROR)
    b = read_bundle(CNN_BUNDLE)
    rule = {k: v for k, v in b.metadata["calibration"].items() if k not in ("min_s", "baseline_s")}
    meta = {**b.metadata, "calibration": {**rule, "kind": "none", "centre_output": False}}
    model = write_bundle(tmp_path / "none.afb", meta, b.model_bytes)
    rec = excerpt.slice_time(excerpt.start_time + 600, excerpt.start_time + 700)
    dev = f"mnep-{uuid.uuid4().hex[:6]}"
    records: list[dict] = []
    got: list[ChunkEvent] = []

    class Watching(Daemon):
        def offer(self, ev: ChunkEvent) -> bool:  # the validated chunks the monitor gets
            ok = super().offer(ev)
            if ok and ev.device == dev:
                got.append(ev)
            return ok

    cfg = parse_config(
        {
            "model": str(model),
            "hop_s": 5.0,
            "source": [{"kind": "lsl"}],
            "sink": [{"kind": "jsonl", "path": "/dev/null"}],
        }
    )
    daemon = Watching(cfg, extra_sinks=[window_sink(records)])
    players = [
        PlayerLSL(
            _player_raw(rec, m, ch_type),
            chunk_size=chunk,
            n_repeat=1,
            name=f"{dev}-{m}",
            source_id=f"{dev}/{m}",
        )
        for m, ch_type, chunk in (("bvp", "bio", 16), ("eda", "gsr", 2), ("temp", "temperature", 2))
    ]

    def predicted() -> list[dict]:
        return [r for r in records if r["device"] == dev and r["label"]]

    async def main():
        task = asyncio.create_task(daemon.run())
        await asyncio.sleep(1.5)
        for p in players:
            p.start()
        deadline = time.monotonic() + 95
        while len(predicted()) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for p in players:
            p.stop()
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    live = predicted()
    assert len(live) >= 3, f"{len(live)} predictions from the players in 95 s"
    signals = {}
    for m in ("bvp", "eda", "temp"):
        evs = [e for e in got if e.modality == m]
        t = np.concatenate([e.start_time + np.arange(len(e.samples)) / e.fs for e in evs])
        x = np.concatenate([e.samples for e in evs])
        signals[m] = Signal(x, evs[0].fs, float(t[0]), (m,), t)
    received = Recording(signals, subject="S13", session="player")
    pred = Predictor(model)
    offline = offline_by_time(pred, received, hop_s=5.0)
    assert assert_parity(live, offline, pred.classes) == len(live)


def test_outlet_at_the_wrong_rate_is_refused_and_unknown_types_hinted(caplog):
    import pylsl

    uid = uuid.uuid4().hex[:6]
    fast = _outlet(f"fast-{uid}-bvp", "BVP", 1, 128.0, pylsl.cf_float32, f"fast-{uid}/bvp")
    odd = _outlet(f"odd-{uid}", "Accelerometer", 3, 32.0, pylsl.cf_float32, f"odd-{uid}/acc")
    records: list[dict] = []
    daemon = lsl_daemon(records)

    async def main():
        task = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 20
        while not fast.have_consumers() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        t = pylsl.local_clock()
        fast.push_chunk(np.zeros((256, 1)).tolist(), (t + np.arange(256) / 128).tolist())
        while daemon.counters["wrong_rate"] == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop.set()
        await asyncio.wait_for(task, 20)

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    assert odd is not None
    assert daemon.counters["wrong_rate"] >= 1
    assert f"fast-{uid}" not in daemon.monitor.devices
    msg = next(r.getMessage() for r in caplog.records if "wrong_rate" in r.getMessage())
    assert f"fast-{uid}-bvp" in msg and "128 Hz" in msg and "64 Hz" in msg
    hint = [r.getMessage() for r in caplog.records if f"odd-{uid}" in r.getMessage()]
    assert hint and "is not used" in hint[0] and "Accelerometer" in hint[0]
