"""A device rebuilt from its saved state and the raw chunks since its mark goes on exactly as
the uninterrupted device: no abstention for the lost window, the same predictions."""

from __future__ import annotations

import json

import pytest

from affectstream.cluster.handover import DeviceMarks, Rebuild, handover_doc
from affectstream.model.predictor import Predictor
from affectstream.stream.device_store import from_json, to_json
from affectstream.stream.monitor import Monitor
from affectstream.stream.replay import replay_chunks
from tests.stream.parity import PROB_TOL

MODS = ["bvp", "eda", "temp"]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor("default")


@pytest.mark.parametrize("save_at", [120, 390])  # before the first prediction, and after it
def test_rebuilt_device_predicts_as_the_uninterrupted_one(excerpt, predictor, save_at):
    rec = excerpt.slice_time(excerpt.start_time, excerpt.start_time + 480)
    chunks = list(replay_chunks(rec, MODS, 5.0))
    ref_mon = Monitor(predictor, hop_s=5.0)
    ref = {}
    for c in chunks:
        for r in ref_mon.push("d", c.modality, c.samples, start_time=c.start_time):
            ref[r["t"]] = r
    # the old owner: serves until the save, taking marks
    old = Monitor(predictor, hop_s=5.0)
    marks = DeviceMarks(1, fresh=True, every_s=10.0)
    cut = next(i for i, c in enumerate(chunks) if c.start_time >= rec.start_time + save_at)
    for seq, c in enumerate(chunks[:cut], start=1):
        old.push("d", c.modality, c.samples, start_time=c.start_time)
        marks.note(old.devices["d"], seq)
    ((_, state, _),) = old.snapshot(["d"], changed_only=False)
    doc = handover_doc(state, cut, marks.mark_for(old.devices["d"]))
    doc = from_json(json.loads(json.dumps(to_json(doc))))  # as it comes back from the store
    # the new owner: replays from the mark to the save, then serves the rest
    rb = Rebuild("d", doc, predictor, 5.0, None)
    assert rb.start_seq < rb.end_seq == cut
    for seq in range(rb.start_seq, rb.end_seq + 1):
        c = chunks[seq - 1]
        rb.feed(c.modality, c.samples, c.start_time, None)
    st, nseq = rb.finish()
    new = Monitor(predictor, hop_s=5.0)
    new.adopt(st, nseq)
    got = []
    for c in chunks[cut:]:
        got += new.push("d", c.modality, c.samples, start_time=c.start_time)
    assert got and any(r["label"] is not None for r in got)
    for r in got:
        want = ref[r["t"]]
        assert r["label"] == want["label"] and r["seq"] == want["seq"], (r, want)
        for k, p in r["probs"].items():
            assert abs(p - want["probs"][k]) <= PROB_TOL
    assert [r["t"] for r in got] == [t for t in ref if t >= got[0]["t"]], (
        [r["t"] for r in got],
        list(ref),
    )
