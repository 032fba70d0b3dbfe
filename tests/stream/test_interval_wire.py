"""``hr`` and ``ibi`` on the wire: an irregular ``ibi`` chunk over MQTT carries its beat times
(``"t"``), an LSL ``IBI`` stream is irregular-rate, ``HR`` regular; what arrives gives the
frames the recording gives offline."""

from __future__ import annotations

import asyncio
import time
import uuid

import numpy as np
import pytest

from affectstream.data import Recording
from affectstream.dsp import Preprocessor
from affectstream.stream.events import ChunkEvent
from affectstream.stream.lsl_source import LslSource
from affectstream.stream.mqtt_source import MqttSource
from affectstream.stream.payload import PayloadError, decode_chunk, encode_chunk
from affectstream.stream.problems import Problems
from affectstream.stream.replay import replay_chunks
from affectstream.stream.replay_publish import publish_lsl
from affectstream.stream.validate import ChunkValidator
from tests.conftest import shared_path

PP = {"model_rate": 4.0, "modalities": [{"name": "hr", "fs": 1.0}, {"name": "ibi", "fs": 1.0}]}


@pytest.fixture(scope="module")
def wrist() -> Recording:
    """Ten minutes of a real E4's own heart rate and beat intervals (Stress-Predict S05)."""
    from affectstream.data.e4 import read_e4_folder

    folder = shared_path("stress_predict", "Raw_data", "S05")
    if not folder.is_dir():
        pytest.skip(f"Stress-Predict is not at {folder}")
    rec = read_e4_folder(folder)
    t0 = float(rec.signals["ibi"].timestamps[0])
    part = rec.slice_time(t0, t0 + 600)
    return Recording({m: part.signals[m] for m in ("hr", "ibi")}, "S05", "s", part.labels)


def frames_of(events: list[ChunkEvent]) -> np.ndarray:
    pp = Preprocessor(PP)
    parts = [
        pp.push(ev.modality, ev.samples, start_time=ev.start_time, timestamps=ev.timestamps).x
        for ev in events
    ]
    return np.concatenate([p for p in parts if len(p)])


def test_payload_with_beat_times_round_trips_and_bad_times_are_refused():
    t = np.array([10.0, 10.8, 11.7])
    ch = decode_chunk("affectstream/w/raw/ibi", encode_chunk(10.0, 0.0, ["ibi"], 0, t - 9.2, t))
    assert ch.fs == 0.0 and ch.t0 == 10.0 and np.array_equal(ch.timestamps, t)
    for bad, match in (
        (b'{"t0":1,"fs":0,"channels":["ibi"],"seq":0,"samples":[0.8]}', "0 only with"),
        (b'{"t0":1,"fs":0,"channels":["ibi"],"seq":0,"samples":[0.8,0.9],"t":[1]}', "list of 2"),
        (b'{"t0":1,"fs":0,"channels":["ibi"],"seq":0,"samples":[0.8,0.9],"t":[2,1]}', "increase"),
    ):
        with pytest.raises(PayloadError, match=match):
            decode_chunk("affectstream/w/raw/ibi", bad)


def test_mqtt_hr_and_ibi_chunks_give_the_offline_frames(wrist):
    problems = Problems()
    v = ChunkValidator({"hr": 1.0, "ibi": 1.0}, {"hr": 1, "ibi": 1}, problems)
    src = MqttSource(["affectstream/+/raw/+"], problems)
    got: list[ChunkEvent] = []

    async def main():
        async def emit(ev):
            ok = v.check(ev)
            if ok is not None:
                got.append(ok)
            return ok is not None

        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop, emit))
        await asyncio.sleep(0)
        for ch in replay_chunks(wrist, ["hr", "ibi"], 5.0):
            fs = ch.fs if ch.timestamps is None else 0.0
            payload = encode_chunk(
                ch.start_time, fs, ch.channels, ch.seq, ch.samples, ch.timestamps
            )
            await src.handle(f"affectstream/w/raw/{ch.modality}", payload)
        task.cancel()  # the MQTT source binds emit until cancelled
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert problems.counters.get("bad_chunks", 0) == 0 and {e.modality for e in got} == {
        "hr",
        "ibi",
    }
    assert all(e.timestamps is not None for e in got if e.modality == "ibi")
    live = frames_of(got)
    offline = Preprocessor(PP).process_recording(wrist).x
    n = min(len(live), len(offline))
    assert n > 2000 and np.isfinite(live[:n, 1]).mean() > 0.5
    np.testing.assert_array_equal(live[:n], offline[:n])


def test_lsl_ibi_stream_is_irregular_and_keeps_the_beat_times(wrist):
    device = f"ibi-{uuid.uuid4().hex[:6]}"
    problems = Problems()
    src = LslSource(
        ["hr", "ibi"], problems, types=["HR", "IBI"], source_ids=[f"{device}/hr", f"{device}/ibi"]
    )
    got: list[ChunkEvent] = []
    short = wrist.slice_time(wrist.start_time, wrist.start_time + 60)

    async def main():
        async def emit(ev):
            got.append(ev)
            return True

        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop, emit))
        await publish_lsl(short, device, speed=0, modalities=["hr", "ibi"], wait_for_consumers_s=20)
        deadline = time.monotonic() + 10
        n_ibi = short.signals["ibi"].n_samples
        while (
            sum(len(e.samples) for e in got if e.modality == "ibi") < n_ibi
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    ibi = [e for e in got if e.modality == "ibi"]
    hr = [e for e in got if e.modality == "hr"]
    assert ibi and all(e.timestamps is not None and e.fs == 0 for e in ibi)
    assert hr and all(e.fs == 1.0 for e in hr)
    beats = np.concatenate([e.timestamps for e in ibi])
    sent = short.signals["ibi"].timestamps
    assert beats.size == sent.size
    np.testing.assert_allclose(np.diff(beats), np.diff(sent), atol=1e-6)
    np.testing.assert_array_equal(
        np.concatenate([e.samples for e in ibi])[:, 0], short.signals["ibi"].data[:, 0]
    )
