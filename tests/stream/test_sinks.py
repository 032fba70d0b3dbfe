"""The sinks every record goes to: JSON lines and callbacks (MQTT and LSL sinks are tested with
a real broker and real outlets in test_daemon_mqtt.py and test_lsl.py)."""

from __future__ import annotations

import asyncio
import json

from affectstream.stream.records import RECORD_KEYS, PredictionRecord
from affectstream.stream.sinks import CallbackSink, JsonLinesSink


def record(t: float, label: str | None = "stress") -> PredictionRecord:
    rec: PredictionRecord = {
        "device": "wrist-1",
        "t": t,
        "label": label,
        "probs": {"non-stress": 0.25, "stress": 0.75} if label else {},
        "quality": 0.9,
        "model": "affectstream-test",
        "latency_ms": 1.5,
        "seq": int(t),
    }
    if label is None:
        rec["reason"] = "missing data (40% of the window)"
    return rec


def test_json_lines_appends_one_flushed_object_per_record(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(record(0.0)) + "\n")  # an earlier run's line stays

    async def main() -> list[str]:
        sink = JsonLinesSink(path)
        await sink.emit(record(1.0))
        seen = path.read_text().splitlines()  # flushed at once, before close
        await sink.emit(record(2.0, None))
        await sink.close()
        return seen

    seen = asyncio.run(main())
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    assert len(seen) == 2 and [r["t"] for r in lines] == [0.0, 1.0, 2.0]
    assert all(set(RECORD_KEYS) <= set(r) for r in lines)
    assert lines[2]["label"] is None and lines[2]["reason"].startswith("missing data")


def test_callback_sink_calls_plain_and_async_functions_in_order():
    got: list[float] = []

    async def slow(rec: PredictionRecord) -> None:
        await asyncio.sleep(0)
        got.append(-rec["t"])

    async def main() -> None:
        plain, awaited = CallbackSink(lambda r: got.append(r["t"])), CallbackSink(slow)
        for t in (1.0, 2.0):
            await plain.emit(record(t))
            await awaited.emit(record(t))

    asyncio.run(main())
    assert got == [1.0, -1.0, 2.0, -2.0]
